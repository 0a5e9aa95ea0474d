// Command snapshotgen regenerates the price snapshots embedded by package pricing from a ccusage
// binary, so that Hangar's offline costs equal ccusage's offline costs.
//
// ccusage 20.x is a static Rust binary. Its build embeds two raw-deflate compressed JSON documents:
// LiteLLM's model_prices_and_context_window.json, compacted to the fields ccusage reads (keys i, o,
// cc, cr, ia, oa, cca, cra, ctx, fast), and a models.dev snapshot (per-million rates, context tiers,
// exactOnly flags). snapshotgen finds both streams by trying every offset, keeps the Claude entries
// (every key containing "claude", case-insensitively), and writes
//
//   - litellm.json: the LiteLLM entries, back in LiteLLM's field names, cost fields only;
//   - modelsdev.json: the models.dev entries, cost and exactOnly only.
//
// Usage (from the repository root, after `npm i ccusage@20.0.24` in /tmp/ccu):
//
//	go run ./pipeline/pricing/internal/snapshotgen \
//	  -ccusage /tmp/ccu/node_modules/@ccusage/ccusage-linux-x64/bin/ccusage \
//	  -version 20.0.24 -published 2026-09-22 -out pipeline/pricing
package main

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("snapshotgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("ccusage", "", "path to the native ccusage binary")
	version := fs.String("version", "", "ccusage version of the binary, recorded in the snapshots")
	published := fs.String("published", "", "publication date of that version (YYYY-MM-DD), recorded in the snapshots")
	out := fs.String("out", ".", "directory to write litellm.json and modelsdev.json to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bin == "" || *version == "" || *published == "" {
		fmt.Fprintln(stderr, "snapshotgen: -ccusage, -version and -published are required")
		return 2
	}
	if err := generate(*bin, *version, *published, *out, stdout); err != nil {
		fmt.Fprintf(stderr, "snapshotgen: %v\n", err)
		return 1
	}
	return 0
}

func generate(bin, version, published, out string, stdout io.Writer) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read ccusage binary: %w", err)
	}
	sum := sha256.Sum256(data)
	litellm, modelsDev, err := findSnapshots(data)
	if err != nil {
		return err
	}
	source := map[string]string{
		"note":       "Not a model. Claude entries of the pricing snapshot embedded in ccusage; see README.md.",
		"ccusage":    version,
		"published":  published,
		"binary":     filepath.Base(bin),
		"sha256":     hex.EncodeToString(sum[:]),
		"generator":  "go run ./pipeline/pricing/internal/snapshotgen",
		"selection":  "keys containing \"claude\" (case-insensitive)",
		"upstream":   "",
		"stream_sha": "",
	}

	lsum := sha256.Sum256(litellm)
	source["upstream"] = "LiteLLM model_prices_and_context_window.json, compacted by ccusage's build.rs"
	source["stream_sha"] = hex.EncodeToString(lsum[:])
	lout, n, err := litellmSnapshot(litellm, source)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "litellm.json"), lout, 0o644); err != nil {
		return fmt.Errorf("write litellm.json: %w", err)
	}
	fmt.Fprintf(stdout, "litellm.json: %d entries, %d bytes\n", n, len(lout))

	msum := sha256.Sum256(modelsDev)
	source["upstream"] = "models.dev api.json, compacted by ccusage (models-dev-pricing.json)"
	source["stream_sha"] = hex.EncodeToString(msum[:])
	mout, n, err := modelsDevSnapshot(modelsDev, source)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "modelsdev.json"), mout, 0o644); err != nil {
		return fmt.Errorf("write modelsdev.json: %w", err)
	}
	fmt.Fprintf(stdout, "modelsdev.json: %d entries, %d bytes\n", n, len(mout))
	return nil
}

// findSnapshots inflates a raw deflate stream at every offset that yields a JSON object and returns
// the LiteLLM one (entries with "i" and "o") and the models.dev one (entries with "cost").
func findSnapshots(data []byte) (litellm, modelsDev []byte, err error) {
	src := bytes.NewReader(nil)
	zr := flate.NewReader(src)
	head := make([]byte, 2)
	for off := 0; off < len(data)-2 && (litellm == nil || modelsDev == nil); off++ {
		src.Reset(data[off:])
		if err := zr.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, nil, fmt.Errorf("reset inflater: %w", err)
		}
		if _, err := io.ReadFull(zr, head); err != nil || string(head) != `{"` {
			continue
		}
		src.Reset(data[off:])
		if err := zr.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, nil, fmt.Errorf("reset inflater: %w", err)
		}
		doc, err := io.ReadAll(zr)
		if err != nil {
			continue
		}
		var entries map[string]map[string]json.RawMessage
		if json.Unmarshal(doc, &entries) != nil {
			continue
		}
		switch kind(entries) {
		case "litellm":
			if litellm == nil {
				litellm = doc
			}
		case "models.dev":
			if modelsDev == nil {
				modelsDev = doc
			}
		}
	}
	if litellm == nil || modelsDev == nil {
		return nil, nil, errors.New("find embedded snapshots: not found (is this a ccusage 20.x binary?)")
	}
	return litellm, modelsDev, nil
}

func kind(entries map[string]map[string]json.RawMessage) string {
	for _, e := range entries {
		if _, ok := e["cost"]; ok {
			return "models.dev"
		}
		_, i := e["i"]
		_, o := e["o"]
		if i && o {
			return "litellm"
		}
		return ""
	}
	return ""
}

var litellmNames = []struct{ compact, full string }{
	{"i", "input_cost_per_token"},
	{"o", "output_cost_per_token"},
	{"cc", "cache_creation_input_token_cost"},
	{"cr", "cache_read_input_token_cost"},
	{"ia", "input_cost_per_token_above_200k_tokens"},
	{"oa", "output_cost_per_token_above_200k_tokens"},
	{"cca", "cache_creation_input_token_cost_above_200k_tokens"},
	{"cra", "cache_read_input_token_cost_above_200k_tokens"},
}

func litellmSnapshot(doc []byte, source map[string]string) ([]byte, int, error) {
	var entries map[string]map[string]float64
	if err := json.Unmarshal(doc, &entries); err != nil {
		return nil, 0, fmt.Errorf("decode LiteLLM snapshot: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	writeSource(&b, source)
	n := 0
	for _, key := range claudeKeys(entries) {
		e := entries[key]
		var fields []string
		for _, f := range litellmNames {
			if v, ok := e[f.compact]; ok {
				fields = append(fields, fmt.Sprintf("%q: %s", f.full, num(v)))
			}
		}
		if v, ok := e["fast"]; ok {
			fields = append(fields, fmt.Sprintf("\"provider_specific_entry\": {\"fast\": %s}", num(v)))
		}
		fmt.Fprintf(&b, ",\n%s: {%s}", quote(key), strings.Join(fields, ", "))
		n++
	}
	b.WriteString("\n}\n")
	return b.Bytes(), n, nil
}

type modelsDevEntry struct {
	Cost      json.RawMessage `json:"cost"`
	ExactOnly bool            `json:"exactOnly,omitempty"`
}

func modelsDevSnapshot(doc []byte, source map[string]string) ([]byte, int, error) {
	var entries map[string]modelsDevEntry
	if err := json.Unmarshal(doc, &entries); err != nil {
		return nil, 0, fmt.Errorf("decode models.dev snapshot: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	writeSource(&b, source)
	n := 0
	for _, key := range claudeKeys(entries) {
		line, err := json.Marshal(entries[key])
		if err != nil {
			return nil, 0, fmt.Errorf("encode models.dev entry %q: %w", key, err)
		}
		fmt.Fprintf(&b, ",\n%s: %s", quote(key), line)
		n++
	}
	b.WriteString("\n}\n")
	return b.Bytes(), n, nil
}

func claudeKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		if strings.Contains(strings.ToLower(k), "claude") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func writeSource(b *bytes.Buffer, source map[string]string) {
	keys := make([]string, 0, len(source))
	for k := range source {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(`"_source": {`)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s: %s", quote(k), quote(source[k]))
	}
	b.WriteString("}")
}

func quote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// num formats v as the shortest decimal that parses back to the same float64.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
