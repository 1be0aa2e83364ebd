package main

import (
	"bufio"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pendingFiles is a small set of files for the unmount tests.
func pendingFiles(seed uint64) map[string][]byte {
	r := rand.New(rand.NewPCG(seed, 5))
	return map[string][]byte{
		"a.txt":           []byte("hello\n"),
		"empty":           nil,
		"dir/b.bin":       randomBytes(r, 300<<10),
		"dir/sub/c.txt":   randomBytes(r, 4097),
		"dir/sub/d/e.dat": randomBytes(r, 1<<20),
	}
}

// writeFiles writes files below root, creating directories as needed.
func writeFiles(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(root, filepath.FromSlash(p))
		mkdirAll(t, filepath.Dir(full))
		writeFile(t, full, files[p])
	}
}

// journalOps runs `ferry journal ARGS --json` and decodes its lines.
func journalOps(t testing.TB, args ...string) []map[string]any {
	t.Helper()
	r := mustFerry(t, 30*time.Second, append([]string{"journal", "--json"}, args...)...)
	var ops []map[string]any
	s := bufio.NewScanner(strings.NewReader(r.stdout))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var op map[string]any
		if err := json.Unmarshal(s.Bytes(), &op); err != nil {
			t.Fatalf("ferry journal --json: line %q: %v", s.Text(), err)
		}
		ops = append(ops, op)
	}
	return ops
}

// TestE2EUnmountPending: with a long write-back, unmount returns at once
// and keeps the pending ops; the journal can be read while unmounted; the
// next mount uploads them.
func TestE2EUnmountPending(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "1h")
	files := pendingFiles(1)
	writeFiles(t, d.MP, files)

	r := ferry(t, 10*time.Second, "unmount", d.MP)
	if r.code != 0 {
		t.Fatalf("unmount with pending uploads (must return within 10s): %s", r)
	}
	if !strings.Contains(r.stderr, "pending") {
		t.Errorf("ferry unmount does not say that ops stay pending:\n%s", r)
	}
	if !m.waitExit(10 * time.Second) {
		t.Fatalf("ferry mount still running after ferry unmount")
	}
	if isMountpoint(t, d.MP) {
		t.Fatalf("%s still mounted after ferry unmount", d.MP)
	}
	if tree := readTree(t, d.Remote); len(tree) != 0 {
		t.Errorf("the remote got %d entries during a 1h write-back: %v", len(tree), slices.Sorted(maps.Keys(tree)))
	}

	// The journal of the unmounted cache lists them as pending.
	ops := journalOps(t, "--cache-dir", d.Cache, "--state", "pending")
	seen := map[string]bool{}
	for _, op := range ops {
		if op["state"] != "pending" {
			t.Errorf("--state pending lists %v", op)
		}
		p, _ := op["path"].(string)
		seen[p] = true
	}
	for p := range files {
		if !seen[p] {
			t.Errorf("ferry journal --cache-dir --state pending does not list %s; it lists %v", p, slices.Sorted(maps.Keys(seen)))
		}
	}
	text := mustFerry(t, 30*time.Second, "journal", "--cache-dir", d.Cache, "--state", "pending")
	if !strings.Contains(text.stdout, "dir/sub/d/e.dat") {
		t.Errorf("ferry journal (text) does not list dir/sub/d/e.dat:\n%s", text.stdout)
	}

	m = startMount(t, d, "--write-back", "100ms")
	m.flush()
	want := filepath.Join(t.TempDir(), "want")
	writeFiles(t, want, files)
	compareTrees(t, want, d.Remote, compareOpts{})
	compareTrees(t, d.MP, d.Remote, compareOpts{perm: true, fileMtimes: true})
	if ops := journalOps(t, d.MP, "--state", "pending"); len(ops) != 0 {
		t.Errorf("pending ops after flush: %v", ops)
	}
	m.unmount()
}

// TestE2EUnmountDrain: unmount --drain uploads everything first, even with
// a write-back delay of an hour.
func TestE2EUnmountDrain(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "1h")
	files := pendingFiles(2)
	writeFiles(t, d.MP, files)
	if err := os.Rename(filepath.Join(d.MP, "a.txt"), filepath.Join(d.MP, "dir", "a-moved.txt")); err != nil {
		t.Fatal(err)
	}
	files["dir/a-moved.txt"] = files["a.txt"]
	delete(files, "a.txt")

	m.unmount("--drain")
	want := filepath.Join(t.TempDir(), "want")
	writeFiles(t, want, files)
	compareTrees(t, want, d.Remote, compareOpts{})
	if ops := journalOps(t, "--cache-dir", d.Cache, "--state", "pending"); len(ops) != 0 {
		t.Errorf("pending ops after unmount --drain: %v", ops)
	}
}
