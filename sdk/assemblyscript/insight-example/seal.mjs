// Writes the sha256 of error-sessions.wasm into plugin.toml (npm run build runs it after asc).
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";

const sum = createHash("sha256").update(readFileSync("error-sessions.wasm")).digest("hex");
const manifest = readFileSync("plugin.toml", "utf8").replace(/^sha256 = .*$/m, `sha256 = "${sum}"`);
writeFileSync("plugin.toml.tmp", manifest);
renameSync("plugin.toml.tmp", "plugin.toml");
console.log(`built error-sessions.wasm, sha256 ${sum}`);
