// The package entry asc resolves ("@hangar-dev/as-sdk" → node_modules/@hangar-dev/as-sdk/index.ts).
export * from "./assembly/index";
