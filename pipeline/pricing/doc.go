// Package pricing owns model prices and the cost of one request, computed exactly as ccusage 20.0.24
// computes Claude Code costs offline (`ccusage claude daily --offline`), so that Hangar's numbers
// equal ccusage's to within 1e-6 USD.
//
// # Data
//
// [Default] is built from two snapshots embedded in this package, both extracted from the ccusage
// 20.0.24 binary by internal/snapshotgen (see README.md for provenance):
//
//   - litellm.json: the Claude entries of the LiteLLM price table ccusage embeds
//     (model_prices_and_context_window.json), with only the cost fields ccusage reads;
//   - modelsdev.json: the Claude entries of the models.dev table ccusage embeds as its fallback.
//
// To these ccusage adds a few built-in Claude prices (claude-sonnet-4, claude-opus-4, claude-3-*),
// used only for names the LiteLLM table lacks, and the "fast" speed multipliers it applies to some
// models; this package carries the same. Names ccusage prices from its non-Claude tables (gpt-*,
// glm-*, kimi, deepseek) are outside this package's scope: they are unknown here.
//
// # Name matching ([Table.Lookup])
//
//  1. An exact key of the primary table (LiteLLM entries and built-ins).
//  2. Unless the name is one of models.dev's exact-only ids in any spelling ('.' and '@' read as
//     '-'), the longest primary key that fuzzily matches the name (ties: the lexically smallest).
//  3. The models.dev table: exact key; then an exact-only id the name spells with '.', '@' or '-';
//     then, unless the name is an exact-only id, the longest fuzzy match among its other keys.
//
// A key fuzzily matches a name when either contains the other, as written or with '.' and '@'
// replaced by '-', at a boundary: the byte before the match is not an ASCII letter or digit, and
// the byte after it either does not exist or is a non-alphanumeric that does not start a new version
// number. A separator followed by digits after a key that ends in a digit starts a new version
// ("claude-sonnet-4" does not match "claude-sonnet-4-5"), except for an 8-digit date
// ("claude-sonnet-4" matches "claude-sonnet-4-20250514"). Matching is case-sensitive.
//
// # Cost ([Price.Cost])
//
// Cost is computed per request, per token class, and summed: input, output, 5-minute cache writes,
// 1-hour cache writes, cache reads. A 1-hour cache write costs twice the input rate (also above the
// threshold: twice the long-context input rate); LiteLLM's cache_creation_input_token_cost prices
// 5-minute writes only. A request with speed "fast" is multiplied by the model's fast multiplier.
//
// LiteLLM's *_above_200k_tokens rates are marginal and per class: of one request's tokens in one
// class, the first 200,000 are billed at the base rate and only those beyond (tokens > 200,000) at
// the long-context rate; a class without such a rate is billed at its base rate throughout. models.dev
// context tiers instead switch the whole request: when input + cache reads + cache writes (5m and
// 1h; not output) of the request exceed the tier's size, every class of that request is billed at
// the tier's rates. They apply to models.dev entries, and to LiteLLM entries that publish no
// long-context rate at all but whose name, without a -YYYYMMDD or -YYYY-MM-DD suffix, is a
// models.dev entry with a tier (none in the embedded snapshot; possible after [Parse]).
//
// Missing rates default as in ccusage: a cache write costs 1.25 times the input rate, a cache read
// 0.1 times. The fast multiplier is LiteLLM's provider_specific_entry.fast, else ccusage's own table
// (applied to models.dev entries too), else 1.
//
// # Modes ([Table.EntryCost])
//
// auto uses the transcript entry's costUSD when it has one, else calculates; calculate always
// calculates; display uses costUSD, else 0. The zero [Mode] behaves as [Auto], ccusage's default.
//
// A [Table] is immutable and safe for concurrent use.
package pricing
