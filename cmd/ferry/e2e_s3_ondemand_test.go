package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestE2ES3FilesOnDemand: the first mount of a bucket of 10,000 small
// objects imports the tree without downloading anything; reading one file
// downloads that file, with exactly one GetObject, and the cache's data/
// then holds that one file's content and nothing else.
func TestE2ES3FilesOnDemand(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	const dirs, perDir = 100, 100
	objs := make(map[string]string, dirs*perDir)
	for i := range dirs {
		for j := range perDir {
			objs[fmt.Sprintf("d%02d/f%03d.txt", i, j)] = fmt.Sprintf("object %d of directory %d\n", j, i)
		}
	}
	start := time.Now()
	f.putObjects(t, objs, 64)
	t.Logf("put %d objects in %v", len(objs), time.Since(start).Round(time.Millisecond))
	if n := len(f.keys(t, "")); n != len(objs) {
		t.Fatalf("the bucket holds %d objects, want %d", n, len(objs))
	}

	d := f.dirs(t)
	start = time.Now()
	m := f.mount(t, d, "--rescan-interval", "0")
	waitImported(t, m.MP)
	t.Logf("mounted and imported in %v", time.Since(start).Round(time.Millisecond))
	before := ferryStatus(t, m.MP)
	t.Logf("requests after the import: %v", before.RemoteRequests)
	if n := before.RemoteRequests["GetObject"]; n != 0 {
		t.Errorf("the import sent %d GetObject requests, want none: it must not download", n)
	}
	if n, err := os.ReadDir(filepath.Join(m.MP, "d42")); err != nil || len(n) != perDir {
		t.Fatalf("d42 lists %d entries (%v), want %d", len(n), err, perDir)
	}

	const pick = "d42/f017.txt"
	got, err := os.ReadFile(filepath.Join(m.MP, pick))
	if err != nil || string(got) != objs[pick] {
		t.Fatalf("read %s: %q, %v; want %q", pick, got, err, objs[pick])
	}
	// Again: from the cache.
	if got, err := os.ReadFile(filepath.Join(m.MP, pick)); err != nil || string(got) != objs[pick] {
		t.Fatalf("read %s again: %q, %v", pick, got, err)
	}
	after := ferryStatus(t, m.MP)
	t.Logf("requests after reading %s twice: %v", pick, after.RemoteRequests)
	if n := after.RemoteRequests["GetObject"]; n != 1 {
		t.Errorf("reading one file (twice) sent %d GetObject requests, want exactly 1", n)
	}
	for op, n := range after.RemoteRequests {
		if op != "GetObject" && op != "ListObjectsV2" && n > before.RemoteRequests[op]+2 {
			t.Errorf("reading one file sent %d more %s requests", n-before.RemoteRequests[op], op)
		}
	}
	// Listing more directories and stat-ing files downloads nothing.
	for _, dir := range []string{"d00", "d99"} {
		ents, err := os.ReadDir(filepath.Join(m.MP, dir))
		if err != nil || len(ents) != perDir {
			t.Fatalf("%s lists %d entries (%v)", dir, len(ents), err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			want := int64(len(objs[dir+"/"+e.Name()]))
			if err != nil || fi.Size() != want {
				t.Fatalf("%s/%s: size %v (%v), want %d", dir, e.Name(), fi.Size(), err, want)
			}
		}
	}
	if n := ferryStatus(t, m.MP).RemoteRequests["GetObject"]; n != 1 {
		t.Errorf("listing and stat-ing two directories: %d GetObject requests in all, want still 1", n)
	}

	// The cache holds that one file's content, nothing else.
	files := regularFiles(t, filepath.Join(d.Cache, "data"))
	var nonEmpty []string
	for p, size := range files {
		if size > 0 {
			nonEmpty = append(nonEmpty, p)
		}
	}
	if len(nonEmpty) != 1 {
		t.Errorf("the cache's data/ holds %d files with content (of %d files), want 1", len(nonEmpty), len(files))
	} else if b, err := os.ReadFile(filepath.Join(d.Cache, "data", nonEmpty[0])); err != nil || !bytes.Equal(b, []byte(objs[pick])) {
		t.Errorf("the cache's data/%s holds %q, want %s's content", nonEmpty[0], b, pick)
	}
	t.Logf("the cache's data/ holds %d files, %d of them empty", len(files), len(files)-len(nonEmpty))
	m.unmount()
}
