package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/vfs"
	"github.com/spf13/cobra"
)

// sizeFlag is a byte count given as 10GiB, 500M, 1T or a plain number.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Type() string   { return "size" }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// parseSize reads "10GiB", "10G", "500MB", "4096" (binary units: K is 1024).
func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	num := strings.TrimRight(t, "KMGTPiBkmgtpib")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(t[len(num):], "B"), "iB"))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: use a number with an optional unit, like 10GiB or 500M", v)
	}
	if unit == "" {
		return int64(n), nil
	}
	shift := strings.Index("KMGTP", strings.TrimSuffix(unit, "I"))
	if shift < 0 || len(strings.TrimSuffix(unit, "I")) != 1 {
		return 0, fmt.Errorf("size %q: unknown unit %q", v, unit)
	}
	return int64(n * float64(int64(1)<<(10*(shift+1)))), nil
}

// startEvictor keeps the content cache within its limit until stop.
func startEvictor(fs *vfs.FS, up *journal.Uploader, max int64) (stop func()) {
	fs.SetCacheLimit(vfs.CacheLimit{MaxBytes: max, Clean: up.Clean})
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fs.Evict()
			}
		}
	}()
	return func() { close(done) }
}

// pinRoutes adds the control endpoints of pin and unpin.
func (m *mount) pinRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /pin", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		n, err := m.fs.Pin(p)
		if err != nil {
			writeErr(w, 409, err)
			return
		}
		m.fs.Evict() // the pinned content may push others out
		writeJSON(w, 200, map[string]int{"files": n})
	})
	mux.HandleFunc("POST /unpin", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		freed, err := m.fs.Unpin(p)
		if err != nil {
			writeErr(w, 409, err)
			return
		}
		writeJSON(w, 200, map[string]int64{"freed": freed})
	})
}

// mountOf finds the running mount that holds path p, and p's path in it.
func mountOf(p string) (registryEntry, string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return registryEntry{}, "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if e, err := lookupMount(d); err == nil {
			rel, _ := filepath.Rel(e.Mountpoint, abs)
			if rel == "." {
				rel = ""
			}
			return e, filepath.ToSlash(rel), nil
		}
		if d == filepath.Dir(d) {
			return registryEntry{}, "", fmt.Errorf("%s is not inside a ferry mount", p)
		}
	}
}

func pinCmd(pin bool) *cobra.Command {
	use, short, endpoint := "pin PATH...", "Keep these files (or folders) on this device, downloading them now", "pin"
	if !pin {
		use, short, endpoint = "unpin PATH...", "Stop keeping these files on this device and free their space", "unpin"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, p := range args {
				e, rel, err := mountOf(p)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if err := newClient(e.CacheDir).call(context.Background(), "POST", endpoint, url.Values{"path": {rel}}, nil); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", endpoint, p, err))
				}
			}
			return errors.Join(errs...)
		},
	}
}
