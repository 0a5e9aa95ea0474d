package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// UsageBucketsType is the media type of GET /v1/usage/buckets: a sequence of buckets, each a
// uvarint length and its key (usage.BucketKey.AppendKey), then a uvarint length and its value
// (usage.Bucket.AppendBinary).
const UsageBucketsType = "application/x-hangar-usage-buckets"

// catchUpWait bounds how long a usage query waits for the rollup to reach the end of the log.
const catchUpWait = 30 * time.Second

// getUsageBuckets serves the usage rollup's buckets between the optional RFC 3339 query
// parameters from (inclusive) and to (exclusive), once the rollup has consumed every event
// stored when the request came, so that a report right after an import counts it all.
func (d *Daemon) getUsageBuckets(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	for name, p := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("bad %s %q: want an RFC 3339 time", name, v))
				return
			}
			*p = t
		}
	}
	d.pauseMu.RLock() // never a bucket of a reprice half done
	defer d.pauseMu.RUnlock()
	if err := d.waitConsumed(r.Context(), usagestore.Name, catchUpWait); err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	var scanErr error
	var out, key, val []byte
	for bu, err := range usagestore.Buckets(d.st, from, to) {
		if err != nil {
			scanErr = err
			break
		}
		key = bu.Key.AppendKey(key[:0])
		if val, err = bu.AppendBinary(val[:0]); err != nil {
			scanErr = err
			break
		}
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
		out = binary.AppendUvarint(out, uint64(len(val)))
		out = append(out, val...)
	}
	if scanErr != nil {
		writeError(w, http.StatusInternalServerError, scanErr)
		return
	}
	w.Header().Set("Content-Type", UsageBucketsType)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// waitConsumed waits until a consumer has consumed the events stored now, or wait passes.
func (d *Daemon) waitConsumed(ctx context.Context, name string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		lag, ok := d.consumers.Load().Lag()[name]
		if !ok || lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %s rollup is %d events behind; try again shortly", name, lag)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// errUsageBuckets means an answer of GET /v1/usage/buckets does not decode.
var errUsageBuckets = errors.New("malformed usage buckets")

// UsageBuckets returns the usage rollup's buckets between from (inclusive) and to (exclusive),
// in key order; zero times leave that end open.
func (c *Client) UsageBuckets(ctx context.Context, from, to time.Time) ([]usage.Bucket, error) {
	path := "/v1/usage/buckets?"
	if !from.IsZero() {
		path += "from=" + from.UTC().Format(time.RFC3339Nano) + "&"
	}
	if !to.IsZero() {
		path += "to=" + to.UTC().Format(time.RFC3339Nano)
	}
	var raw string
	if err := c.do(ctx, http.MethodGet, path, "", nil, &raw); err != nil {
		return nil, fmt.Errorf("usage buckets: %w", err)
	}
	b := []byte(raw)
	out := make([]usage.Bucket, 0, len(b)/128) // a bucket takes about 150 bytes
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errUsageBuckets
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		kb, err := next()
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		vb, err := next()
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		key, err := usage.ParseBucketKey(kb)
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		bu := usage.Bucket{}
		if err := bu.UnmarshalBinary(vb); err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		bu.Key = key
		out = append(out, bu)
	}
	return out, nil
}

// EmbeddedPrices returns the id of the price table built into the binary (pricing.Default), which
// prices usage until `agent pricing update` saves another: pricing.SnapshotID, which changes when
// a new build brings new snapshots.
func EmbeddedPrices() string { return pricing.SnapshotID() }

// maxPricesBody bounds a POST /v1/pricing/update body (LiteLLM's whole table is about 1 MB).
const maxPricesBody = 64 << 20

// PriceTable says which price table usage is priced with.
type PriceTable struct {
	// ID is EmbeddedPrices(), or "sha256:", the hex SHA-256 of the saved file, "+" and
	// EmbeddedPrices() (the saved file updates the embedded table: see pricing.Parse).
	ID string `json:"id"`
	// Path is the saved file, <data-dir>/pricing/litellm.json; "" for the embedded table.
	Path string `json:"path,omitempty"`
	// Models counts the priced model names the table holds.
	Models int `json:"models"`
}

// Pricing is the answer of GET /v1/pricing.
type Pricing struct {
	Table PriceTable `json:"table"`
	// Unpriced are the models with usage and no price, sorted: their usage counts 0 USD.
	Unpriced []string `json:"unpriced"`
}

// PricingUpdate is the answer of POST /v1/pricing/update: the new table, and what repricing the
// stored usage with it did.
type PricingUpdate struct {
	Table PriceTable `json:"table"`
	usagestore.RepriceResult
}

// PricesPath returns where dataDir keeps the price table `agent pricing update` saved.
func PricesPath(dataDir string) string { return filepath.Join(dataDir, PricingName, PricesFile) }

// LoadPrices returns the price table of dataDir: the saved file (in LiteLLM's format, see
// pricing.Parse) if there is one, else the embedded table. A saved file that does not parse is an
// error.
func LoadPrices(dataDir string) (*pricing.Table, PriceTable, error) {
	path := PricesPath(dataDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t := pricing.Default()
		return t, PriceTable{ID: EmbeddedPrices(), Models: t.Len()}, nil
	}
	if err != nil {
		return nil, PriceTable{}, fmt.Errorf("load price table: %w", err)
	}
	t, err := pricing.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, PriceTable{}, fmt.Errorf("load price table %s: %w", path, err)
	}
	return t, savedTable(path, data, t), nil
}

func savedTable(path string, data []byte, t *pricing.Table) PriceTable {
	return PriceTable{ID: savedTableID(data), Path: path, Models: t.Len()}
}

func savedTableID(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]) + "+" + EmbeddedPrices()
}

// priceTableID returns the id LoadPrices gives dataDir's price table, without parsing it: a
// saved file that does not parse has an id here, while LoadPrices fails and the daemon falls
// back to the embedded table.
func priceTableID(dataDir string) (string, error) {
	data, err := os.ReadFile(PricesPath(dataDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return EmbeddedPrices(), nil
	case err != nil:
		return "", fmt.Errorf("load price table: %w", err)
	}
	return savedTableID(data), nil
}

// savePrices writes data as dataDir's price table (0600), atomically: a reader sees the old table
// or the new one whole.
func savePrices(dataDir string, data []byte) error {
	if err := os.MkdirAll(filepath.Join(dataDir, PricingName), 0o700); err != nil {
		return fmt.Errorf("save price table: %w", err)
	}
	if err := atomicfile.WriteFile(PricesPath(dataDir), data, 0o600); err != nil {
		return fmt.Errorf("save price table: %w", err)
	}
	return nil
}

func (d *Daemon) priceTable() PriceTable {
	d.pricesMu.Lock()
	defer d.pricesMu.Unlock()
	return d.prices
}

func (d *Daemon) setPriceTable(t PriceTable) {
	d.pricesMu.Lock()
	d.prices = t
	d.pricesMu.Unlock()
	d.log.Info("price table", "id", t.ID, "path", t.Path, "models", t.Models)
}

// loadPrices gives the usage rollup the data directory's price table, before the consumers start.
// Stored usage whose costs come from another table (the saved file changed, or an update was cut
// short by a crash) is repriced first.
func (d *Daemon) loadPrices() error {
	t, table, err := LoadPrices(d.cfg.DataDir)
	if err != nil {
		d.log.Error("the saved price table does not load; pricing with the embedded one", "err", err)
		t = pricing.Default()
		table = PriceTable{ID: EmbeddedPrices(), Models: t.Len()}
	}
	d.setPriceTable(table)
	if d.usage == nil {
		return nil
	}
	d.usage.SetPrices(t)
	priced, err := d.usage.TableID()
	if err != nil {
		return err
	}
	// No id: a new store, or usage consumed before tables had ids (priced with the embedded
	// table of whichever build consumed it). Repricing records the id; on a new store it has
	// nothing to reprice.
	if priced != table.ID {
		lvl := slog.LevelInfo
		if priced == "" {
			lvl = slog.LevelDebug
		}
		d.log.Log(context.Background(), lvl, "repricing stored usage: its costs come from another price table", "was", priced, "now", table.ID)
		res, err := d.usage.Reprice(context.Background(), t, table.ID)
		if err != nil {
			// Not fatal: usage keeps being counted, and the next start tries again.
			d.log.Error("reprice usage", "err", err)
		} else if res.Entries > 0 {
			d.log.Info("usage repriced", "entries", res.Entries, "repriced", res.Repriced, "changed", res.Changed, "kept", res.Kept)
		}
	}
	if models, err := usagestore.UnpricedModels(d.st); err == nil && len(models) > 0 {
		d.log.Warn("models without a price: their usage counts 0 USD (update prices with `agent pricing update --file`)", "models", models)
	}
	return nil
}

// UpdatePrices makes data (a price table in LiteLLM's format, already parsed as t) the data
// directory's price table and reprices the stored usage with it. The consumers are stopped
// meanwhile, so that none commits a batch priced with the old table over the reprice; usage reads
// and dead-letter replays wait. The file is saved before the reprice starts, and the rollup
// records the table only once the reprice is complete: a reprice cut short (error or crash) is
// completed by the next start, or by the same update again.
func (d *Daemon) UpdatePrices(ctx context.Context, t *pricing.Table, data []byte) (res PricingUpdate, err error) {
	d.pauseMu.Lock()
	defer d.pauseMu.Unlock()
	if d.closing {
		return res, fmt.Errorf("update prices: %w", pipeline.ErrClosed)
	}
	d.consumers.Load().Close() // returns once a batch in flight has committed
	defer func() {
		if serr := d.startConsumers(); serr != nil {
			d.log.Error("restart consumers", "err", serr)
			err = errors.Join(err, fmt.Errorf("restart consumers: %w", serr))
		}
	}()
	if err := savePrices(d.cfg.DataDir, data); err != nil {
		return res, err
	}
	res.Table = savedTable(PricesPath(d.cfg.DataDir), data, t)
	res.Unpriced = []string{}
	d.setPriceTable(res.Table)
	if d.usage == nil {
		return res, nil
	}
	if res.RepriceResult, err = d.usage.Reprice(ctx, t, res.Table.ID); err != nil {
		return res, fmt.Errorf("the table is saved, but repricing stopped (the same update again, or the next start, completes it): %w", err)
	}
	d.log.Info("usage repriced", "entries", res.Entries, "repriced", res.Repriced, "changed", res.Changed, "kept", res.Kept, "unpriced", res.Unpriced)
	return res, nil
}

// getPricing answers with the price table in use and the models without a price, once the rollup
// has consumed the events stored when the request came.
func (d *Daemon) getPricing(w http.ResponseWriter, r *http.Request) {
	d.answerUnpriced(w, r, func(models []string) any { return Pricing{Table: d.priceTable(), Unpriced: models} })
}

// getUnpriced answers GET /v1/usage/unpriced: Pricing.Unpriced alone, which a read-only daemon
// serves without parsing a price table.
func (d *Daemon) getUnpriced(w http.ResponseWriter, r *http.Request) {
	d.answerUnpriced(w, r, func(models []string) any { return models })
}

// answerUnpriced answers with answer(the models with usage and no price), once the rollup has
// consumed every event stored when the request came.
func (d *Daemon) answerUnpriced(w http.ResponseWriter, r *http.Request, answer func(models []string) any) {
	d.pauseMu.RLock()
	defer d.pauseMu.RUnlock()
	models := []string{}
	if d.usage != nil {
		if err := d.waitConsumed(r.Context(), usagestore.Name, catchUpWait); err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		var err error
		if models, err = usagestore.UnpricedModels(d.st); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, answer(models))
}

// postPricingUpdate takes a price table in LiteLLM's format (400 if it does not parse: nothing
// changes), saves it and reprices the stored usage (see UpdatePrices). The reprice goes on if the
// client goes away.
func (d *Daemon) postPricingUpdate(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPricesBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read price table: %w", err))
		return
	}
	t, err := pricing.Parse(bytes.NewReader(data))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := d.UpdatePrices(context.WithoutCancel(r.Context()), t, data)
	switch {
	case errors.Is(err, pipeline.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// Pricing returns the price table usage is priced with and the models without a price.
func (c *Client) Pricing(ctx context.Context) (Pricing, error) {
	var p Pricing
	if err := c.do(ctx, http.MethodGet, "/v1/pricing", "", nil, &p); err != nil {
		return p, fmt.Errorf("pricing: %w", err)
	}
	return p, nil
}

// UnpricedModels returns, sorted, the models with usage and no price: their usage counts 0 USD.
func (c *Client) UnpricedModels(ctx context.Context) ([]string, error) {
	var models []string
	if err := c.do(ctx, http.MethodGet, "/v1/usage/unpriced", "", nil, &models); err != nil {
		return nil, fmt.Errorf("unpriced models: %w", err)
	}
	return models, nil
}

// UpdatePrices sends a price table in LiteLLM's format (model_prices_and_context_window.json):
// the daemon saves it, prices usage with it from now on, and reprices the stored usage.
func (c *Client) UpdatePrices(ctx context.Context, table []byte) (PricingUpdate, error) {
	var res PricingUpdate
	if err := c.do(ctx, http.MethodPost, "/v1/pricing/update", "application/json", table, &res); err != nil {
		return res, fmt.Errorf("update prices: %w", err)
	}
	return res, nil
}
