package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// ErrNoDaemon means no daemon answers on the data directory's socket.
var ErrNoDaemon = errors.New("daemon: not running")

// Client talks to the local API: over the Unix socket to a running daemon, or in-process to a
// Daemon the CLI opened itself. It is safe for concurrent use.
type Client struct {
	hc *http.Client
	// local is the daemon a LocalClient serves from; nil for a client of the socket.
	local *Daemon
}

// NewClient returns a client of the daemon whose socket is in dataDir. It does not connect until
// the first request; a request that cannot connect returns an error wrapping ErrNoDaemon.
func NewClient(dataDir string) *Client {
	sock := filepath.Join(dataDir, SocketName)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrNoDaemon, err)
			}
			return c, nil
		},
		DisableCompression: true,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// LocalClient returns a client that serves its requests with d's handler, in-process.
func LocalClient(d *Daemon) *Client {
	return &Client{hc: &http.Client{Transport: handlerTransport{d.Handler()}}, local: d}
}

// handlerTransport answers requests by calling a handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &responseBuffer{header: http.Header{}}
	t.h.ServeHTTP(w, r)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		StatusCode: w.code,
		Status:     http.StatusText(w.code),
		Header:     w.header,
		Body:       io.NopCloser(&w.body),
		Request:    r,
	}, nil
}

// responseBuffer is the http.ResponseWriter of handlerTransport.
type responseBuffer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }
func (b *responseBuffer) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// StatusError is an error answer of the API.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }

// do sends a request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// statusError reads the error answer resp.
func statusError(resp *http.Response) *StatusError {
	var e apiError
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = http.StatusText(resp.StatusCode)
	}
	return &StatusError{Code: resp.StatusCode, Message: e.Error}
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", body, out)
}

// PostFrames sends framed records (see pipeline.AppendFrame) and returns once they are durable.
// A busy daemon answers with a *StatusError of code 503.
func (c *Client) PostFrames(ctx context.Context, frames []byte) (pipeline.Result, error) {
	var res pipeline.Result
	err := c.do(ctx, http.MethodPost, "/v1/events", FramesType, frames, &res)
	return res, err
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", "", nil, &s)
	return s, err
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var s string
	err := c.do(ctx, http.MethodGet, "/metrics", "", nil, &s)
	return s, err
}

// Daily returns the events counted by day, platform and kind.
func (c *Client) Daily(ctx context.Context) ([]pipeline.DayCount, error) {
	var out []pipeline.DayCount
	err := c.do(ctx, http.MethodGet, "/v1/daily", "", nil, &out)
	return out, err
}

// ListDLQ returns up to limit dead letters (all if limit is 0), without payloads.
func (c *Client) ListDLQ(ctx context.Context, limit int) ([]DLQEntry, error) {
	var out []DLQEntry
	err := c.do(ctx, http.MethodGet, "/v1/dlq?limit="+strconv.Itoa(limit), "", nil, &out)
	return out, err
}

// GetDLQ returns one dead letter with its payload.
func (c *Client) GetDLQ(ctx context.Context, seq uint64) (store.DLQRecord, error) {
	var r store.DLQRecord
	err := c.do(ctx, http.MethodGet, "/v1/dlq/"+strconv.FormatUint(seq, 10), "", nil, &r)
	return r, err
}

// ReplayDLQ replays dead letters.
func (c *Client) ReplayDLQ(ctx context.Context, req DLQRequest) (pipeline.ReplayResult, error) {
	var res pipeline.ReplayResult
	err := c.postJSON(ctx, "/v1/dlq/replay", req, &res)
	return res, err
}

// DropDLQ drops dead letters.
func (c *Client) DropDLQ(ctx context.Context, req DLQRequest) (DropResult, error) {
	var res DropResult
	err := c.postJSON(ctx, "/v1/dlq/drop", req, &res)
	return res, err
}

// ReloadPlugins asks the daemon to reload its plugins from the registry.
func (c *Client) ReloadPlugins(ctx context.Context) (PluginsReloaded, error) {
	var res PluginsReloaded
	err := c.postJSON(ctx, "/v1/plugins/reload", struct{}{}, &res)
	return res, err
}

// FlushAudit asks the daemon to write its plugins' content reads to the audit log now.
func (c *Client) FlushAudit(ctx context.Context) error {
	return c.postJSON(ctx, "/v1/audit/flush", struct{}{}, &struct{}{})
}

// PostFramesOnce sends framed records to the daemon whose socket is in dataDir over one
// short-lived connection and returns once they are durable. It is the hook's path: it skips
// http.Client's connection pool and its goroutines, which a process that makes one request and
// exits pays for without using. It speaks the same HTTP/1.1 as the API.
func PostFramesOnce(ctx context.Context, dataDir string, frames []byte) (pipeline.Result, error) {
	var res pipeline.Result
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dataDir, SocketName))
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	req := make([]byte, 0, 160+len(frames))
	req = fmt.Appendf(req, "POST /v1/events HTTP/1.1\r\nHost: agent\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", FramesType, len(frames))
	req = append(req, frames...)
	if _, err := conn.Write(req); err != nil {
		return res, fmt.Errorf("post events: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return res, fmt.Errorf("post events: read answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, fmt.Errorf("post events: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		json.Unmarshal(body, &e)
		return res, &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("post events: decode answer: %w", err)
	}
	return res, nil
}
