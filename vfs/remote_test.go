package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// fetcher serves content from a remote by the paths Import saw.
type fetcher struct {
	r     remote.Remote
	paths map[uint64]string
	calls int
	fail  error
}

func (*fetcher) Gone(uint64) {}

func (f *fetcher) Fetch(ctx context.Context, id uint64, dst *os.File) error {
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	rc, err := f.r.Get(ctx, f.paths[id], 0, -1, "")
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(dst, rc)
	return err
}

func TestImportAndFetchOnOpen(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d", "f"), []byte("remote content"), 0o640)
	os.WriteFile(filepath.Join(root, "g"), []byte("truncated anyway"), 0o644)
	rem, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, t.TempDir())
	f := &fetcher{r: rem, paths: map[uint64]string{}}
	n, err := r.fs.Import(context.Background(), rem, func(id uint64, e remote.Entry) { f.paths[id] = e.Path })
	if err != nil || n != 3 {
		t.Fatalf("import: %d entries, %v", n, err)
	}
	d, err := r.fs.Lookup(cache.RootID, "d")
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.fs.Lookup(d.Ino, "f")
	if err != nil || a.Size != 14 || a.Mode&ModePerm != 0o640 {
		t.Fatalf("f: %+v %v", a, err)
	}

	_, err = r.fs.Open(a.Ino, syscall.O_RDONLY)
	if Errno(err) != syscall.EIO {
		t.Fatalf("open with no fetcher: %v, want EIO", err)
	}
	f.fail = errors.New("connection refused")
	r.fs.SetFetcher(f)
	if _, err = r.fs.Open(a.Ino, syscall.O_RDONLY); Errno(err) != syscall.EIO {
		t.Fatalf("open while offline: %v, want EIO", err)
	}
	f.fail = nil
	if got := r.readFile(t, a.Ino); got != "remote content" {
		t.Fatalf("f = %q", got)
	}
	r.readFile(t, a.Ino)
	if f.calls != 2 {
		t.Fatalf("fetched %d times, want 2 (one failure, then once)", f.calls)
	}

	g, _ := r.fs.Lookup(cache.RootID, "g")
	fh, err := r.fs.Open(g.Ino, syscall.O_WRONLY|syscall.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	r.fs.Release(fh)
	if f.calls != 2 {
		t.Fatal("O_TRUNC fetched content it throws away")
	}

	// A second import into a cache with a tree does nothing.
	if n, err := r.fs.Import(context.Background(), rem, func(uint64, remote.Entry) {}); n != 0 || err != nil {
		t.Fatalf("second import: %d %v", n, err)
	}
}

func TestInterruptedImportContinues(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "b/c"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"a/1", "b/2", "b/c/3", "top"} {
		os.WriteFile(filepath.Join(root, f), []byte(f), 0o644)
	}
	rem, _ := local.New(root)
	dir := t.TempDir()
	r := newRig(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the listing fails at once: an import cut short
	if _, err := r.fs.Import(ctx, rem, func(uint64, remote.Entry) {}); err == nil {
		t.Fatal("an import with a cancelled context succeeded")
	}
	if _, err := r.fs.Import(context.Background(), &stopAfter{Remote: rem, n: 2}, func(uint64, remote.Entry) {}); err == nil {
		t.Fatal("an import whose listing fails succeeded")
	}
	r.close()
	r = newRig(t, dir)
	if _, err := r.fs.Import(context.Background(), rem, func(uint64, remote.Entry) {}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/1", "b/2", "b/c/3", "top"} {
		if _, err := r.fs.Resolve(p); err != nil {
			t.Errorf("%s missing after the import continued: %v", p, err)
		}
	}
}

// stopAfter fails every List after the first n.
type stopAfter struct {
	remote.Remote
	n int
}

func (s *stopAfter) List(ctx context.Context, dir string, fn func(remote.Entry) error) error {
	if s.n == 0 {
		return errors.New("connection reset")
	}
	s.n--
	return s.Remote.List(ctx, dir, fn)
}

// flatRemote lists a root of n files, f00000 on, and fails after failAt
// of them (0: never).
type flatRemote struct {
	remote.Remote
	n, failAt int
}

func (f *flatRemote) List(ctx context.Context, dir string, fn func(remote.Entry) error) error {
	for i := range f.n {
		if i == f.failAt && f.failAt > 0 {
			return errors.New("connection reset")
		}
		if err := fn(remote.Entry{Path: fmt.Sprintf("f%05d", i), Size: 1, Mode: 0o644}); err != nil {
			return err
		}
	}
	return nil
}

// TestFlatListingGoesInPages: a directory's listing goes into the DB a
// page at a time, not held whole; one cut short keeps the pages it got,
// the directory stays unlisted, and the next listing adds only the rest.
func TestFlatListingGoesInPages(t *testing.T) {
	rem, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := newRig(t, dir)
	const total = 2*listPage + 500
	if _, err := r.fs.Import(context.Background(), &flatRemote{Remote: rem, n: total, failAt: listPage + 500}, func(uint64, remote.Entry) {}); err == nil {
		t.Fatal("an import whose listing fails succeeded")
	}
	r.close()
	r = newRig(t, dir)
	r.fs.mu.Lock()
	root, err := r.fs.dir(cache.RootID)
	if err != nil {
		t.Fatal(err)
	}
	kept, unlisted := len(root.children), root.Unlisted
	r.fs.mu.Unlock()
	if kept != listPage || !unlisted {
		t.Fatalf("after a listing cut short: %d entries kept, unlisted %v; want the first page, %d, and still unlisted", kept, unlisted, listPage)
	}
	seen := 0
	if _, err := r.fs.Import(context.Background(), &flatRemote{Remote: rem, n: total}, func(uint64, remote.Entry) { seen++ }); err != nil {
		t.Fatal(err)
	}
	if seen != total-listPage {
		t.Errorf("the second listing added %d files, want %d", seen, total-listPage)
	}
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	if root, _ := r.fs.dir(cache.RootID); len(root.children) != total || root.Unlisted {
		t.Errorf("after the import: %d entries, unlisted %v; want %d, listed", len(root.children), root.Unlisted, total)
	}
}
