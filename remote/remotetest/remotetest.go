// Package remotetest is the conformance suite every remote.Remote backend
// runs: the local folder against a temp dir, S3 against a real MinIO. A
// backend passes when it behaves as the remote.Remote doc comments say; the
// tests compare the bytes and entries read back, never canned outcomes.
package remotetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// Options describe what a backend supports beyond the common contract.
type Options struct {
	// MaxKeyLen is the length in bytes of the longest path, as passed to
	// the Remote, that the backend must accept (segments stay <= 255
	// bytes). 0 means 1024, S3's key limit; a backend that adds a prefix
	// to every key must subtract it.
	MaxKeyLen int
	// Symlinks: the backend stores Meta.Link and reports it back in
	// Entry.Link.
	Symlinks bool
	// PartSize is the part size of the backend's multipart uploads, if it
	// has them: the large-file tests put files of a few parts. 0 means
	// 5 MiB, S3's minimum.
	PartSize int64
	// Resumable: the backend implements remote.Resumable (and maybe
	// remote.UploadCleaner), and the tests of interrupted uploads run.
	Resumable bool
}

// Run runs the suite with the default Options: 1024-byte paths and no
// symlinks.
func Run(t *testing.T, newRemote func(t *testing.T) remote.Remote) {
	t.Helper()
	RunWithOptions(t, newRemote, Options{})
}

// RunWithOptions runs every conformance test as a subtest. newRemote must
// return a new, empty Remote for each call; it may register cleanup with t.
func RunWithOptions(t *testing.T, newRemote func(t *testing.T) remote.Remote, opts Options) {
	t.Helper()
	if opts.MaxKeyLen == 0 {
		opts.MaxKeyLen = 1024
	}
	if opts.PartSize == 0 {
		opts.PartSize = 5 << 20
	}
	type test = struct {
		name string
		fn   func(t *testing.T, r remote.Remote, opts Options)
	}
	tests := []test{
		{"PutGetStat", testPutGetStat},
		{"RangedGet", testRangedGet},
		{"VersionedGet", testVersionedGet},
		{"Overwrite", testOverwrite},
		{"SetMeta", testSetMeta},
		{"FailedPutIsAtomic", testFailedPutIsAtomic},
		{"Cancelled", testCancelled},
		{"ConditionalPut", testConditionalPut},
		{"ConditionalDelete", testConditionalDelete},
		{"ConcurrentConditionalPut", testConcurrentConditionalPut},
		{"Missing", testMissing},
		{"List", testList},
		{"ListNested", testListNested},
		{"ListPagination", testListPagination},
		{"Delete", testDelete},
		{"Copy", testCopy},
		{"RenameFile", testRenameFile},
		{"RenameDir", testRenameDir},
		{"MkdirRmdir", testMkdirRmdir},
		{"OddNames", testOddNames},
		{"LongPath", testLongPath},
		{"RejectedPaths", testRejectedPaths},
		{"Symlinks", testSymlinks},
		{"DirMarkers", testDirMarkers},
		{"OddKeys", testOddKeys},
		{"LargeFile", testLargeFile},
	}
	if opts.Resumable {
		tests = append(tests, test{"Resumable", testResumable})
	}
	// The optional interfaces are tested when the backend has them.
	probe := newRemote(t)
	if _, ok := probe.(remote.Conditional); ok {
		tests = append(tests, test{"ConditionalMetaRename", testConditionalMetaRename})
	}
	if _, ok := probe.(remote.Area); ok {
		tests = append(tests,
			test{"AreaPutGet", testAreaPutGet},
			test{"AreaList", testAreaList},
			test{"AreaPagination", testAreaPagination},
			test{"AreaHidden", testAreaHidden},
			test{"Trash", testTrash},
			test{"Restore", testRestore},
			test{"TrashSymlink", testTrashSymlink},
		)
	}
	if _, ok := probe.(remote.Walker); ok {
		tests = append(tests, test{"Walk", testWalk}, test{"WalkEmpty", testWalkEmpty})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newRemote(t), opts)
		})
	}
}

// mtime is the modification time the tests store: sub-second, so a backend
// that keeps only seconds still passes and one that mangles seconds fails.
var mtime = time.Date(2021, 3, 4, 5, 6, 7, 250_000_000, time.UTC)

// meta returns the Meta the tests store for content.
func meta(content string) remote.Meta {
	return remote.Meta{ModTime: mtime, Mode: 0o640, Hash: hashOf(content)}
}

// hashOf stands in for ferry's blake3: backends record the hash, they never
// verify it, so any 64 hex digits do.
func hashOf(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, r remote.Remote, p, content string) remote.Entry {
	t.Helper()
	return putMeta(t, r, p, content, meta(content))
}

func putMeta(t *testing.T, r remote.Remote, p, content string, m remote.Meta) remote.Entry {
	t.Helper()
	e, err := r.Put(t.Context(), p, bytes.NewReader([]byte(content)), int64(len(content)), m, remote.Cond{})
	if err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
	if e.Path != p || e.Size != int64(len(content)) || e.Dir || e.Version == "" {
		t.Fatalf("Put(%q) = %+v, want path %q, size %d, a file with a version", p, e, p, len(content))
	}
	return e
}

func get(t *testing.T, r remote.Remote, p string, off, n int64) string {
	t.Helper()
	rc, err := r.Get(t.Context(), p, off, n, "")
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", p, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", p, off, n, err)
	}
	return string(b)
}

// wantContent checks that the file at p holds exactly want.
func wantContent(t *testing.T, r remote.Remote, p, want string) {
	t.Helper()
	if got := get(t, r, p, 0, -1); got != want {
		t.Fatalf("content of %q = %q, want %q", p, clip(got), clip(want))
	}
	if e := stat(t, r, p); e.Size != int64(len(want)) {
		t.Fatalf("Stat(%q).Size = %d, want %d", p, e.Size, len(want))
	}
}

func stat(t *testing.T, r remote.Remote, p string) remote.Entry {
	t.Helper()
	e, err := r.Stat(t.Context(), p)
	if err != nil {
		t.Fatalf("Stat(%q): %v", p, err)
	}
	if e.Path != p {
		t.Fatalf("Stat(%q).Path = %q", p, e.Path)
	}
	return e
}

// wantMissing checks that Stat of p reports remote.ErrNotFound.
func wantMissing(t *testing.T, r remote.Remote, p string) {
	t.Helper()
	e, err := r.Stat(t.Context(), p)
	if !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want an error wrapping remote.ErrNotFound", p, e, err)
	}
}

// wantErrIs checks that err wraps target and is classified permanent.
func wantErrIs(t *testing.T, err, target error, call string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want an error wrapping %q", call, err, target)
	}
	if !remote.IsPermanent(err) {
		t.Fatalf("%s: IsPermanent(%v) = false", call, err)
	}
}

// list returns the entries List reports for dir, by path. It fails the test
// on a duplicate or on an entry that is not an immediate child of dir.
func list(t *testing.T, r remote.Remote, dir string) map[string]remote.Entry {
	t.Helper()
	got := map[string]remote.Entry{}
	err := r.List(t.Context(), dir, func(e remote.Entry) error {
		if _, dup := got[e.Path]; dup {
			t.Errorf("List(%q) reported %q twice", dir, e.Path)
		}
		got[e.Path] = e
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for p := range got {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" || strings.Contains(rest, "/") {
			t.Errorf("List(%q) reported %q, not an immediate child", dir, p)
		}
	}
	return got
}

// wantNames checks that the entries are exactly the paths in want, with
// the paths ending in "/" (stripped) being directories.
func wantNames(t *testing.T, dir string, got map[string]remote.Entry, want ...string) {
	t.Helper()
	wantDir := map[string]bool{}
	for _, w := range want {
		if p, ok := strings.CutSuffix(w, "/"); ok {
			wantDir[p] = true
		} else {
			wantDir[w] = false
		}
	}
	for p, isDir := range wantDir {
		e, ok := got[p]
		switch {
		case !ok:
			t.Errorf("List(%q) misses %q; got %v", dir, p, keys(got))
		case e.Dir != isDir:
			t.Errorf("List(%q): %q has Dir = %v, want %v", dir, p, e.Dir, isDir)
		}
	}
	for p := range got {
		if _, ok := wantDir[p]; !ok {
			t.Errorf("List(%q) reports unexpected %q", dir, p)
		}
	}
}

func keys(m map[string]remote.Entry) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) > 20 {
		ks = append(ks[:20], "...")
	}
	return ks
}

// sameTime reports whether a backend's a matches the stored b to the second.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Second && d < time.Second
}

// wantMeta checks the metadata a backend reports against what was stored.
// Mode is checked only when the backend reports one.
func wantMeta(t *testing.T, call string, e remote.Entry, m remote.Meta) {
	t.Helper()
	if !sameTime(e.ModTime, m.ModTime) {
		t.Errorf("%s: ModTime = %v, want %v", call, e.ModTime, m.ModTime)
	}
	if perm := e.Mode.Perm(); perm != 0 && perm != m.Mode.Perm() {
		t.Errorf("%s: Mode = %v, want %v", call, e.Mode, m.Mode.Perm())
	}
	if e.Hash != "" && e.Hash != m.Hash {
		t.Errorf("%s: Hash = %q, want %q (or none)", call, e.Hash, m.Hash)
	}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// failingReader yields its data, then fails with err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(b, f.data)
	f.data = f.data[n:]
	return n, nil
}

// cancelReader yields its data in small reads and cancels a context after
// the first one, like a caller aborting an upload halfway.
type cancelReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (c *cancelReader) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), 512)], c.data)
	c.data = c.data[n:]
	c.cancel()
	return n, nil
}
