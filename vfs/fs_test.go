package vfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

type rig struct {
	dir    string
	store  *cache.Store
	store0 *cache.Store // the closed store, for its paths
	fs     *FS
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	store, err := cache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := New(Config{Store: store, Journal: journal.Open(store), MaxPathLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{dir: dir, store: store, fs: fs}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	if r.store != nil {
		r.fs.Close()
		r.store.Close()
		r.store0, r.store = r.store, nil
	}
}

var me = Caller{UID: 1000, GID: 1000}

func (r *rig) writeFile(t *testing.T, parent uint64, name, data string) uint64 {
	t.Helper()
	a, fh, err := r.fs.Create(parent, name, syscall.O_WRONLY, 0o644, me)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := r.fs.Write(fh, []byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.fs.Flush(fh); err != nil {
		t.Fatal(err)
	}
	r.fs.Release(fh)
	return a.Ino
}

func (r *rig) readFile(t *testing.T, id uint64) string {
	t.Helper()
	fh, err := r.fs.Open(id, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.fs.Release(fh)
	buf := make([]byte, 1<<16)
	n, err := r.fs.Read(fh, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func wantErr(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	if Errno(err) != want {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestTreeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	d, err := r.fs.Mkdir(cache.RootID, "d", 0o755, me)
	if err != nil {
		t.Fatal(err)
	}
	f := r.writeFile(t, d.Ino, "f", "content")
	if err := r.fs.Rename(d.Ino, "f", cache.RootID, "g", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.fs.SetXattr(f, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	r.close()

	r = newRig(t, dir)
	a, err := r.fs.Lookup(cache.RootID, "g")
	if err != nil || a.Ino != f || a.Size != 7 || a.UID != 1000 {
		t.Fatalf("g after restart: %+v %v", a, err)
	}
	if got := r.readFile(t, f); got != "content" {
		t.Fatalf("content %q", got)
	}
	if v, err := r.fs.GetXattr(f, "user.k"); err != nil || string(v) != "v" {
		t.Fatalf("xattr %q %v", v, err)
	}
	if _, err := r.fs.Lookup(d.Ino, "f"); Errno(err) != syscall.ENOENT {
		t.Fatalf("old name still there: %v", err)
	}
}

func TestPosixErrors(t *testing.T) {
	r := newRig(t, t.TempDir())
	d, _ := r.fs.Mkdir(cache.RootID, "d", 0o755, me)
	r.writeFile(t, d.Ino, "f", "x")
	_, _, err := r.fs.Create(d.Ino, "f", 0, 0o644, me)
	wantErr(t, err, syscall.EEXIST)
	wantErr(t, r.fs.Rmdir(cache.RootID, "d"), syscall.ENOTEMPTY)
	wantErr(t, r.fs.Unlink(cache.RootID, "d"), syscall.EISDIR)
	wantErr(t, r.fs.Rmdir(d.Ino, "f"), syscall.ENOTDIR)
	_, err = r.fs.Mkdir(cache.RootID, strings.Repeat("n", 256), 0o755, me)
	wantErr(t, err, syscall.ENAMETOOLONG)
	_, err = r.fs.Mkdir(d.Ino, strings.Repeat("n", 70), 0o755, me) // MaxPathLen 64
	wantErr(t, err, syscall.ENAMETOOLONG)
	wantErr(t, r.fs.Rename(cache.RootID, "d", d.Ino, "sub", 0), syscall.EINVAL)
	e, _ := r.fs.Mkdir(cache.RootID, "e", 0o755, me)
	wantErr(t, r.fs.Rename(cache.RootID, "e", cache.RootID, "d", 0), syscall.ENOTEMPTY)
	wantErr(t, r.fs.Rename(cache.RootID, "e", cache.RootID, "d", RenameNoReplace), syscall.EEXIST)
	wantErr(t, r.fs.Rename(d.Ino, "f", cache.RootID, "e", 0), syscall.EISDIR)
	_ = e
}

func TestRenameExchangeAndReplace(t *testing.T) {
	r := newRig(t, t.TempDir())
	a := r.writeFile(t, cache.RootID, "a", "A")
	b := r.writeFile(t, cache.RootID, "b", "B")
	if err := r.fs.Rename(cache.RootID, "a", cache.RootID, "b", RenameExchange); err != nil {
		t.Fatal(err)
	}
	if x, _ := r.fs.Lookup(cache.RootID, "a"); x.Ino != b {
		t.Fatalf("a is %d, want %d", x.Ino, b)
	}
	if err := r.fs.Rename(cache.RootID, "a", cache.RootID, "b", 0); err != nil {
		t.Fatal(err)
	}
	x, err := r.fs.Lookup(cache.RootID, "b")
	if err != nil || x.Ino != b || r.readFile(t, x.Ino) != "B" {
		t.Fatalf("b after replace: %+v %v", x, err)
	}
	if _, err := r.fs.GetAttr(a); Errno(err) != syscall.ENOENT {
		if at, _ := r.fs.GetAttr(a); at.Nlink != 0 {
			t.Fatalf("replaced node still linked: %+v", at)
		}
	}
}

func TestUnlinkedOpenFileKeepsWorking(t *testing.T) {
	r := newRig(t, t.TempDir())
	id := r.writeFile(t, cache.RootID, "f", "hello")
	fh, err := r.fs.Open(id, syscall.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fs.Unlink(cache.RootID, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.fs.Write(fh, []byte(" world"), 5); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, err := r.fs.Read(fh, buf, 0)
	if err != nil || string(buf[:n]) != "hello world" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	r.fs.Release(fh)
	r.fs.Forget(id, 1)
	if _, err := r.fs.store.OpenContent(id, false); !errors.Is(err, syscall.ENOENT) && err == nil {
		t.Fatal("content of an unlinked file survived its last close")
	}
}

func TestConcurrentOps(t *testing.T) {
	r := newRig(t, t.TempDir())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := r.fs.Mkdir(cache.RootID, fmt.Sprint("w", w), 0o755, me)
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < 50; i++ {
				name := fmt.Sprint("f", i)
				_, fh, err := r.fs.Create(d.Ino, name, syscall.O_RDWR, 0o644, me)
				if err != nil {
					t.Error(err)
					return
				}
				r.fs.Write(fh, []byte(name), 0)
				r.fs.Flush(fh)
				r.fs.Release(fh)
				if i%3 == 0 {
					r.fs.Rename(d.Ino, name, d.Ino, name+".r", 0)
				}
				if i%5 == 0 {
					r.fs.Unlink(d.Ino, name)
				}
				r.fs.GetAttr(d.Ino)
			}
		}()
	}
	wg.Wait()
	fh, err := r.fs.OpenDir(cache.RootID)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := r.fs.ReadDir(fh, 0)
	r.fs.ReleaseDir(fh)
	if len(ents) != 8+2 {
		t.Fatalf("root has %d entries", len(ents))
	}
}

func TestSparesOfAnEarlierRunAreRemoved(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	r.writeFile(t, cache.RootID, "f", "x") // the filler has run by now or runs soon
	var old []uint64
	for range 100 {
		r.fs.mu.Lock()
		for _, s := range r.fs.spares {
			old = append(old, s.id)
		}
		r.fs.mu.Unlock()
		if len(old) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(old) == 0 {
		t.Fatal("no spare content files were made")
	}
	r.close()
	for _, id := range old {
		if _, err := os.Stat(r.store0.ContentPath(id)); err != nil {
			t.Fatalf("spare %d should still be on disk before the restart: %v", id, err)
		}
	}
	r = newRig(t, dir)
	for _, id := range old {
		if _, err := os.Stat(r.store.ContentPath(id)); !os.IsNotExist(err) {
			t.Fatalf("spare %d of the earlier run survived the restart: %v", id, err)
		}
	}
	if got := r.readFile(t, mustLookup(t, r, "f")); got != "x" {
		t.Fatalf("f = %q", got)
	}
}

func mustLookup(t *testing.T, r *rig, name string) uint64 {
	t.Helper()
	a, err := r.fs.Lookup(cache.RootID, name)
	if err != nil {
		t.Fatal(err)
	}
	return a.Ino
}

// With kernel passthrough the core never sees writes: they land in the
// content file directly. Writes after an early close(2) of a dup'd fd must
// still be journaled at the last close.
func TestWritesBehindTheCoreAreJournaled(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	a, fh, err := r.fs.Create(cache.RootID, "f", syscall.O_WRONLY, 0o644, me)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fs.Flush(fh); err != nil { // the shell closing its first fd
		t.Fatal(err)
	}
	if _, err := r.fs.ContentFile(fh).WriteAt([]byte("written by the kernel"), 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.fs.GetAttr(a.Ino); got.Size != 21 {
		t.Fatalf("size while open = %d, want 21", got.Size)
	}
	r.fs.Flush(fh)
	r.fs.Release(fh)
	r.close()

	r = newRig(t, dir)
	ops, err := journal.List(r.store, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	last := ops[len(ops)-1]
	if last.Kind != journal.Write || last.Size != 21 {
		t.Fatalf("last op %+v, want a write of 21 bytes", last)
	}
	if got := r.readFile(t, a.Ino); got != "written by the kernel" {
		t.Fatalf("content after restart %q", got)
	}
}

func TestResolveByPath(t *testing.T) {
	r := newRig(t, t.TempDir())
	d, _ := r.fs.Mkdir(cache.RootID, "d", 0o755, me)
	id := r.writeFile(t, d.Ino, "f", "x")
	for p, want := range map[string]uint64{"": cache.RootID, "/": cache.RootID, "/d": d.Ino, "d/f": id, "/d/f": id} {
		a, err := r.fs.Resolve(p)
		if err != nil || a.Ino != want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", p, a.Ino, err, want)
		}
	}
	if _, err := r.fs.Resolve("/d/missing"); Errno(err) != syscall.ENOENT {
		t.Errorf("missing: %v", err)
	}
	if _, err := r.fs.Resolve("/d/f/x"); Errno(err) != syscall.ENOTDIR {
		t.Errorf("through a file: %v", err)
	}
}
