package local

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// walkPaths returns the paths l.Walk reports, sorted.
func walkPaths(t *testing.T, l *Local) []string {
	t.Helper()
	var got []string
	if err := l.Walk(t.Context(), func(e remote.Entry) error {
		got = append(got, e.Path)
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	slices.Sort(got)
	return got
}

func TestSkippedNames(t *testing.T) {
	l := newLocal(t)
	for _, p := range []string{"ok", "d/bad\xffname", "bad\xfedir/inside", "d/" + tempPrefix + "x", ".ferry/log/1"} {
		full := filepath.Join(l.Root(), filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := walkPaths(t, l), []string{"d", "ok"}; !slices.Equal(got, want) {
		t.Errorf("Walk = %q, want %q", got, want)
	}
	want := []string{"bad\xfedir", "d/bad\xffname"}
	if got := l.Skipped(); !slices.Equal(got, want) {
		t.Errorf("Skipped() = %q, want %q", got, want)
	}
	if _, err := l.Stat(t.Context(), "d/bad\xffname"); !errors.Is(err, remote.ErrPermanent) {
		t.Errorf("Stat of a name that is not UTF-8: %v, want ErrPermanent", err)
	}
}

func TestTrashKeepsHash(t *testing.T) {
	l := newLocal(t)
	requireXattrs(t, l.Root())
	ctx := t.Context()
	m := remote.Meta{ModTime: time.Unix(1_600_000_000, 5), Mode: 0o600, Hash: strings.Repeat("cd", 32)}
	e, err := put(t, l, "a/f", "content", m)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "a/f", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	name := "trash/" + time.Now().UTC().Format("2006-01-02") + "/a/f"
	fi, err := os.Lstat(filepath.Join(l.Root(), ".ferry", filepath.FromSlash(name)))
	if err != nil || !fi.ModTime().Equal(m.ModTime) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the trash holds %v, %v; want the file with its mtime and mode", fi, err)
	}
	r, err := l.RestoreArea(ctx, name, "b/g")
	if err != nil {
		t.Fatalf("RestoreArea: %v", err)
	}
	if r.Hash != m.Hash || !r.ModTime.Equal(m.ModTime) {
		t.Errorf("restored %+v, want hash %q and mtime %v", r, m.Hash, m.ModTime)
	}
	// The emptied day directory goes; the trash directory stays.
	if _, err := os.Lstat(filepath.Join(l.Root(), ".ferry", "trash")); err != nil {
		t.Errorf("the trash directory is gone: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(l.Root(), ".ferry", "trash")); len(entries) != 0 {
		t.Errorf("the trash still holds %v", entries)
	}
}

// TestTrashDirectoryInTheWay trashes a file whose path the trash holds as
// a directory already (it was a directory earlier that day).
func TestTrashDirectoryInTheWay(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	for _, p := range []string{"x/inner", "x"} {
		e, err := put(t, l, p, "content of "+p, remote.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Delete(ctx, p, remote.Cond{IfMatch: e.Version}); err != nil {
			t.Fatalf("Delete(%q): %v", p, err)
		}
		if p == "x/inner" {
			if err := l.Rmdir(ctx, "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	err := l.ListArea(ctx, "trash/", "", 0, func(o remote.AreaObject) error {
		names = append(names, o.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	day := "trash/" + time.Now().UTC().Format("2006-01-02") + "/"
	if len(names) != 2 || !strings.HasPrefix(names[0], day+"long/") || names[1] != day+"x/inner" {
		t.Fatalf("the trash holds %q, want %q and a long/ name", names, day+"x/inner")
	}
	b, err := l.GetArea(ctx, names[0])
	if err != nil || string(b) != "content of x" {
		t.Errorf("GetArea(%q) = %q, %v", names[0], b, err)
	}
}

func TestListAreaSkipsTempFiles(t *testing.T) {
	l := newLocal(t)
	if err := l.PutArea(t.Context(), "log/1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(l.Root(), ".ferry", "log", tempPrefix+"x")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	err := l.ListArea(t.Context(), "", "", 0, func(o remote.AreaObject) error {
		names = append(names, o.Name)
		return nil
	})
	if err != nil || !slices.Equal(names, []string{"log/1"}) {
		t.Errorf("ListArea = %q, %v; want only log/1", names, err)
	}
}
