package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ES3EvictionOrderAndDirty: past --cache-max-size the least recently
// read clean content goes first, and content not yet uploaded never goes,
// even when it alone is over the limit. GetObject requests, counted by the
// mount, tell what was downloaded again; the cache's content files tell
// when the evictor has run.
func TestE2ES3EvictionOrderAndDirty(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	const size = 64 << 10
	body := func(s string) string { return strings.Repeat(s, size)[:size] }
	for _, k := range []string{"a/1", "a/2", "a/3"} {
		f.putObject(t, k, body(k))
	}
	d := f.dirs(t)
	m := f.mount(t, d, "--cache-max-size", "200KiB", "--write-back", "1h")
	gets := func() uint64 { return ferryStatus(t, m.MP).RemoteRequests["GetObject"] }
	read := func(p, want string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(m.MP, p)); err != nil || string(b) != want {
			t.Fatalf("read %s: %d bytes, %v; want its %d bytes", p, len(b), err, len(want))
		}
	}
	write := func(p string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(m.MP, p), []byte(body(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cachedFiles := func() int {
		files, _ := filepath.Glob(filepath.Join(d.Cache, "data", "*", "*"))
		n := 0
		for _, p := range files {
			if !strings.Contains(filepath.Base(p), ".") { // not a spare or a partial download
				if fi, err := os.Stat(p); err == nil && fi.Size() == size {
					n++
				}
			}
		}
		return n
	}

	for _, p := range []string{"a/1", "a/2", "a/3"} {
		read(p, body(p))
		time.Sleep(10 * time.Millisecond) // distinct times of use
	}
	if n := gets(); n != 3 {
		t.Fatalf("reading a/: %d GetObject, want 3", n)
	}
	// 256 KiB cached, past the limit: down to 90% of it, the oldest first.
	write("w1")
	eventually(t, time.Minute, "the evictor never brought the cache under its limit", func() bool { return cachedFiles() == 2 })
	read("a/3", body("a/3"))
	if n := gets(); n != 3 {
		t.Fatalf("a/3, read last, was evicted (GetObject %d, want 3)", n)
	}
	read("a/1", body("a/1"))
	if n := gets(); n != 4 {
		t.Fatalf("a/1, read first, was kept (GetObject %d, want 4)", n)
	}

	// Not uploaded yet: over the limit on their own, and kept all the same.
	for _, p := range []string{"w2", "w3", "w4"} {
		write(p)
	}
	eventually(t, time.Minute, "the clean content was never evicted", func() bool { return cachedFiles() == 4 })
	time.Sleep(6 * time.Second) // one more turn of the evictor
	for _, p := range []string{"w1", "w2", "w3", "w4"} {
		read(p, body(p))
	}
	mustFerry(t, time.Minute, "flush", m.MP)
	for _, p := range []string{"w1", "w2", "w3", "w4"} {
		if !f.objectIs(t, p, body(p)) {
			t.Errorf("%s is not in the bucket as written", p)
		}
	}
	m.unmount()
}
