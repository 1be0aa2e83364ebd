package s3

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// describeEntries renders entries as sorted "path/" (directories), "path"
// (files) and "path -> target" (symlinks) lines.
func describeEntries(es []remote.Entry) []string {
	var out []string
	for _, e := range es {
		switch {
		case e.Dir:
			out = append(out, e.Path+"/")
		case e.Link != "":
			out = append(out, e.Path+" -> "+e.Link)
		default:
			out = append(out, e.Path)
		}
	}
	sort.Strings(out)
	return out
}

// wantLines reports the lines missing from got and the lines got has
// beyond want, both sorted.
func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	var missing, extra []string
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s misses %q and has %q besides", what, missing, extra)
	}
}

// walked returns the entries r.Walk reports.
func walked(t *testing.T, r *Remote) []remote.Entry {
	t.Helper()
	var got []remote.Entry
	if err := r.Walk(t.Context(), func(e remote.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// listedTree returns the entries of a recursive List of r.
func listedTree(t *testing.T, r *Remote, dir string) []remote.Entry {
	t.Helper()
	var got []remote.Entry
	if err := r.List(t.Context(), dir, func(e remote.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	for _, e := range slices.Clone(got) {
		if e.Dir {
			got = append(got, listedTree(t, r, e.Path)...)
		}
	}
	return got
}

// wantWalkLikeList checks that Walk on one Remote and a recursive List on
// another, of the same bucket, report the same entries and skip the same
// keys, and returns both.
func wantWalkLikeList(t *testing.T, walker, lister *Remote) (entries, skipped []string) {
	t.Helper()
	w, l := describeEntries(walked(t, walker)), describeEntries(listedTree(t, lister, ""))
	wantLines(t, "Walk, against a recursive List,", w, l)
	if ws, ls := walker.Skipped(), lister.Skipped(); !slices.Equal(ws, ls) {
		t.Errorf("Walk skipped %q, List %q", ws, ls)
	}
	return w, walker.Skipped()
}

// putKeys stores each key, with the content "target", behind the backend's
// back, 16 at a time.
func putKeys(t *testing.T, srv *s3test.Server, bucket string, keys []string) {
	t.Helper()
	work := make(chan string)
	errs := make(chan error, len(keys))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for k := range work {
				if _, err := srv.Client().PutObject(t.Context(), putInput(bucket, k, "target")); err != nil {
					errs <- fmt.Errorf("put %q: %w", k, err)
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWalkCollidingKeys checks that Walk settles the collisions MinIO can
// store as List does, a file "a/b" losing to the directory marker "a/b/"
// even though "a/b c" and "a/b-x/y" sort between them, and that it sends
// one ListObjectsV2 per 1000 keys, no HEAD, and one GET per symlink. The
// file "k/b" ends the first page and the marker "k/b/" starts the second.
// (MinIO keeps only one of a file "a/b" and an object "a/b/c" below it:
// TestWalkHostileKeys has those.)
func TestWalkCollidingKeys(t *testing.T) {
	srv := s3test.Start(t)
	walker := newTestRemote(t, srv, "")
	lister, err := New(t.Context(), walker.cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"a/b", "a/b/", "a/b c", "a/b-x/y", "a/c", "a/c.rclonelink", "a/d.rclonelink", "a/d/e",
		"a/e.rclonelink", "a/f.rclonelink", "a/f/", "a/g", "a/g.rclonelink", "a/g/",
		".ferry", ".ferry.rclonelink", ".ferry/log/1", "z",
		"k/b", "k/b/", "k/l.rclonelink", "m/",
	}
	for i := range 999 {
		keys = append(keys, fmt.Sprintf("k/%05d", i))
	}
	putKeys(t, srv, walker.bucket, keys)

	before := walker.Requests()
	entries, skipped := wantWalkLikeList(t, walker, lister)
	after := walker.Requests()
	for op, want := range map[string]uint64{"ListObjectsV2": 2, "HeadObject": 0, "GetObject": 2} {
		if n := after[op] - before[op]; n != want {
			t.Errorf("Walk sent %d %s requests, want %d", n, op, want)
		}
	}
	wantSkipped := []string{".ferry", ".ferry.rclonelink", "a/b", "a/c.rclonelink", "a/d.rclonelink",
		"a/f.rclonelink", "a/g", "a/g.rclonelink", "k/b"}
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("Skipped() = %q, want %q", skipped, wantSkipped)
	}
	want := []string{"a/", "a/b/", "a/b c", "a/b-x/", "a/b-x/y", "a/c", "a/d/", "a/d/e", "a/e -> target",
		"a/f/", "a/g/", "k/", "k/b/", "k/l -> target", "m/", "z"}
	for i := range 999 {
		want = append(want, fmt.Sprintf("k/%05d", i))
	}
	sort.Strings(want)
	wantLines(t, "Walk", entries, want)
}

// TestWalkHostileKeys runs Walk over the keys MinIO refuses to store, from
// a fake server, and compares it with a recursive List.
func TestWalkHostileKeys(t *testing.T) {
	long := strings.Repeat("L", 256)
	keys := []string{
		"ok", "dir/f", ".ferry/trash/x", "a", "a/inside", "l", "l.rclonelink", "k.rclonelink",
		"../escape", "./dot", "//root", "/abs", "twice//x", "nul\x00name", "bad\xffutf8", long,
		"d/" + long + "/x", "d/ok/" + long, "d/bad\xff/x", "d/..", "d/../y", "d//", ".rclonelink", ".ferry",
		"f/b", "f/b c", "f/b-x/y", "f/b.rclonelink", "f/b/c",
	}
	sort.Strings(keys)
	srv := fakeBucket(t, keys)
	newRemote := func() *Remote {
		r, err := New(t.Context(), Config{Bucket: "bucket", Endpoint: srv.URL, AccessKeyID: "k", SecretAccessKey: "s"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return r
	}
	entries, skipped := wantWalkLikeList(t, newRemote(), newRemote())
	wantLines(t, "Walk", entries, []string{"a/", "a/inside", "d/", "d/ok/", "dir/", "dir/f",
		"f/", "f/b c", "f/b-x/", "f/b-x/y", "f/b/", "f/b/c", "k -> x", "l", "ok", "twice/"})
	if len(skipped) < 15 {
		t.Errorf("Skipped() = %q, want every hostile key", skipped)
	}
}
