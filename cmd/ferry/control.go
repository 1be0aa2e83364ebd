package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The control socket lets the CLI talk to a running mount. It is HTTP over a
// unix socket of mode 0600 in the mount's cache dir; only its owner can use it.

const socketName = "control.sock"

func socketPath(cacheDir string) string { return filepath.Join(cacheDir, socketName) }

// serveControl serves h on the control socket of cacheDir. The returned
// stop closes the socket and waits a little for requests in progress, so
// that the answer to `ferry unmount` (whose handler ends the mount) still
// reaches the client before the process exits.
func serveControl(cacheDir string, h http.Handler) (stop func(), err error) {
	path := socketPath(cacheDir)
	os.Remove(path) // left by a crash; the cache lock says nobody else owns it
	if len(path) > 107 {
		return nil, fmt.Errorf("control socket path %s is too long for a unix socket: use a shorter --cache-dir", path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close() // a flush still waiting: its client sees the mount go away
		}
		os.Remove(path)
	}, nil
}

// client talks to the mount whose cache dir is cacheDir.
type client struct {
	hc *http.Client
}

func newClient(cacheDir string) *client {
	path := socketPath(cacheDir)
	return &client{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

var errNotRunning = errors.New("mount is not running")

// call does method on the mount's endpoint with query q and decodes the
// JSON answer into out. Non-2xx answers carry {"error": "..."}.
func (c *client) call(ctx context.Context, method, endpoint string, q url.Values, out any) error {
	u := "http://ferry/" + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return errNotRunning
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("mount answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func queryDuration(r *http.Request, name string) (time.Duration, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	return time.ParseDuration(v)
}

func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	return strconv.Atoi(v)
}
