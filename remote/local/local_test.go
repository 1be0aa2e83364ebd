package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/remotetest"
)

func newLocal(t *testing.T) *Local {
	t.Helper()
	l, err := New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

func TestConformance(t *testing.T) {
	remotetest.RunWithOptions(t, func(t *testing.T) remote.Remote { return newLocal(t) },
		remotetest.Options{MaxKeyLen: 1024, Symlinks: true})
}

func TestNewRejectsMissingAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ root, want string }{
		{filepath.Join(dir, "missing"), "remote folder " + filepath.Join(dir, "missing") + ": no such directory"},
		{file, "remote folder " + file + ": not a directory"},
	} {
		l, err := New(c.root)
		if err == nil || err.Error() != c.want {
			t.Errorf("New(%q) = %v, %v; want error %q", c.root, l, err, c.want)
		}
	}
	l, err := New(dir + "/./")
	if err != nil || l.Root() != dir {
		t.Errorf("New(%q) = %v, %v; want root %q", dir+"/./", l, err, dir)
	}
}

func put(t *testing.T, l *Local, p, content string, m remote.Meta) (remote.Entry, error) {
	t.Helper()
	return l.Put(t.Context(), p, strings.NewReader(content), int64(len(content)), m, remote.Cond{})
}

// tempFiles returns the temp files anywhere below root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestFailedPutLeavesNoTempFile(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	boom := errors.New("boom")
	r := &failAfter{n: 100_000, err: boom}
	_, err := l.Put(ctx, "d/f", r, 1<<20, remote.Meta{}, remote.Cond{})
	if !errors.Is(err, boom) || remote.IsPermanent(err) {
		t.Errorf("Put with a failing reader: err = %v, want transient wrapping %v", err, boom)
	}
	if _, err := put(t, l, "d/f", "old", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	_, err = l.Put(ctx, "d/f", strings.NewReader("new"), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("conditional Put: err = %v, want ErrPrecondition", err)
	}
	if tmp := tempFiles(t, l.Root()); len(tmp) != 0 {
		t.Errorf("temp files left behind: %v", tmp)
	}
}

// failAfter yields n zero bytes, then err.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Read(b []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	n := min(len(b), f.n)
	clear(b[:n])
	f.n -= n
	return n, nil
}

func TestTempFilesHiddenAndReserved(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if _, err := put(t, l, "d/visible", "x", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(l.Root(), "d", tempPrefix+"leftover")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := l.List(ctx, "d", func(e remote.Entry) error { got = append(got, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "d/visible" {
		t.Errorf("List = %q, want only d/visible", got)
	}
	for _, p := range []string{"d/" + tempPrefix + "leftover", tempPrefix + "x/y"} {
		if _, err := l.Stat(ctx, p); !errors.Is(err, remote.ErrPermanent) {
			t.Errorf("Stat(%q): err = %v, want ErrPermanent", p, err)
		}
		if _, err := put(t, l, p, "x", remote.Meta{}); !errors.Is(err, remote.ErrPermanent) {
			t.Errorf("Put(%q): err = %v, want ErrPermanent", p, err)
		}
	}
}

func TestRmdirRemovesStaleTempFiles(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if err := l.Mkdir(ctx, "d", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(l.Root(), "d", tempPrefix+"crashed")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh temp file may belong to a write in progress: kept.
	if err := l.Rmdir(ctx, "d"); !errors.Is(err, remote.ErrPermanent) {
		t.Fatalf("Rmdir with a fresh temp file: err = %v, want ErrPermanent", err)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("fresh temp file removed: %v", err)
	}
	l.staleAfter = 0
	if err := l.Rmdir(ctx, "d"); err != nil {
		t.Fatalf("Rmdir with a stale temp file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(tmp)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("directory still there after Rmdir: %v", err)
	}
}

func TestDeleteDirectoryIsPermanent(t *testing.T) {
	l := newLocal(t)
	if err := l.Mkdir(t.Context(), "d", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	err := l.Delete(t.Context(), "d", remote.Cond{})
	if !errors.Is(err, remote.ErrPermanent) {
		t.Fatalf("Delete of a directory: err = %v, want ErrPermanent", err)
	}
	if fi, err := os.Stat(filepath.Join(l.Root(), "d")); err != nil || !fi.IsDir() {
		t.Fatalf("directory gone after a refused Delete: %v", err)
	}
}

func TestRenameOntoEmptyDirectory(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if _, err := put(t, l, "src/f", "f", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Mkdir(ctx, "dst", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Rename(ctx, "src", "dst"); err != nil {
		t.Fatalf("Rename onto an empty directory: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(l.Root(), "dst", "f")); err != nil || string(b) != "f" {
		t.Fatalf("dst/f = %q, %v", b, err)
	}
	if _, err := put(t, l, "src2/g", "g", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	err := l.Rename(ctx, "src2", "dst")
	if !errors.Is(err, remote.ErrPermanent) {
		t.Fatalf("Rename onto a non-empty directory: err = %v, want ErrPermanent", err)
	}
	if err := l.Rename(ctx, "dst", "dst/inside"); !errors.Is(err, remote.ErrPermanent) {
		t.Fatalf("Rename into itself: err = %v, want ErrPermanent", err)
	}
}

func TestSymlinksNeverLeadOutside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLocal(t)
	ctx := t.Context()
	for name, target := range map[string]string{"outdir": outside, "outfile": secret, "indir": "."} {
		if err := os.Symlink(target, filepath.Join(l.Root(), name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"outdir/x", "indir/x"} {
		if _, err := put(t, l, p, "x", remote.Meta{}); !errors.Is(err, remote.ErrPermanent) {
			t.Errorf("Put(%q) through a symlink: err = %v, want ErrPermanent", p, err)
		}
		if _, err := l.Stat(ctx, p); !errors.Is(err, remote.ErrPermanent) {
			t.Errorf("Stat(%q) through a symlink: err = %v, want ErrPermanent", p, err)
		}
	}
	if err := l.List(ctx, "outdir", func(remote.Entry) error { return nil }); !errors.Is(err, remote.ErrPermanent) {
		t.Errorf("List of a symlink: err = %v, want ErrPermanent", err)
	}
	if rc, err := l.Get(ctx, "outfile", 0, -1, ""); err == nil {
		rc.Close()
		t.Error("Get of a symlink to an outside file succeeded")
	}
	if _, err := l.Copy(ctx, "outfile", "copy"); err != nil {
		t.Fatalf("Copy of a symlink: %v", err)
	}
	if e, err := l.Stat(ctx, "copy"); err != nil || e.Link != secret {
		t.Errorf("Copy of a symlink = %+v, %v; want a symlink to %q", e, err, secret)
	}
	if err := l.SetMeta(ctx, "outfile", remote.Meta{Mode: 0o600, ModTime: time.Unix(1e9, 0)}); err != nil {
		t.Fatalf("SetMeta of a symlink: %v", err)
	}
	fi, err := os.Stat(secret)
	if err != nil || fi.Mode().Perm() != 0o644 || fi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("SetMeta through a symlink changed the outside file: %v, %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("files created outside the root: %v", entries)
	}
}

func TestParentIsAFile(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if _, err := put(t, l, "f", "file", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, l, "f/child", "x", remote.Meta{}); !errors.Is(err, remote.ErrPermanent) {
		t.Errorf("Put below a file: err = %v, want ErrPermanent", err)
	}
	if err := l.Mkdir(ctx, "f/d", remote.Meta{}); !errors.Is(err, remote.ErrPermanent) {
		t.Errorf("Mkdir below a file: err = %v, want ErrPermanent", err)
	}
	if _, err := l.Stat(ctx, "f/child"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("Stat below a file: err = %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, "f/child", remote.Cond{}); err != nil {
		t.Errorf("Delete below a file: %v", err)
	}
}
