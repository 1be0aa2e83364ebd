package remotetest

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/ferry-fs/ferry/remote"
)

// walk returns the entries Walk reports, in order. It fails the test on a
// duplicate and on an entry reported before its parent directory.
func walk(t *testing.T, w remote.Walker) []remote.Entry {
	t.Helper()
	var got []remote.Entry
	seen := map[string]bool{} // path: is a directory
	err := w.Walk(t.Context(), func(e remote.Entry) error {
		if _, dup := seen[e.Path]; dup {
			t.Errorf("Walk reported %q twice", e.Path)
		}
		if dir := path.Dir(e.Path); dir != "." && !seen[dir] {
			t.Errorf("Walk reported %q before its directory %q", e.Path, dir)
		}
		seen[e.Path] = e.Dir
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// listTree returns the entries of a recursive List from dir, by path.
func listTree(t *testing.T, r remote.Remote, dir string, into map[string]remote.Entry) {
	t.Helper()
	for p, e := range list(t, r, dir) {
		into[p] = e
		if e.Dir {
			listTree(t, r, p, into)
		}
	}
}

// buildWalkTree builds the tree the Walk test lists: nested, empty and implicit
// directories, names that sort between a directory and its children
// ("w/b c", "w/b-x" and "w/b.txt" come between "w/b" and "w/b/c" in byte
// order), odd names, symlinks, and objects in the area.
func buildWalkTree(t *testing.T, r remote.Remote, opts Options) {
	ctx := t.Context()
	for _, p := range []string{
		"top", "w/a/b/c.txt", "w/a/d.txt", "w/b/c", "w/b c", "w/b-x/y", "w/b.txt", "w/b+", "w/b%", "w/b#",
		"w/bb/c", "w/m/f", "w/m-x", "w/日本/🚀", "w/é/ü",
	} {
		put(t, r, p, "content of "+p)
	}
	for _, name := range oddNames() {
		put(t, r, "w/odd/"+name, name)
	}
	for _, d := range []string{"w/empty", "w/empty2/nested", "w/m", "w/odd/dir with space"} {
		if err := r.Mkdir(ctx, d, remote.Meta{}); err != nil {
			t.Fatalf("Mkdir(%q): %v", d, err)
		}
	}
	if opts.Symlinks {
		for p, target := range map[string]string{"w/link": "target/x", "w/a/rel": "../b", "w/b/l": "/abs"} {
			if _, err := r.Put(ctx, p, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: target}, remote.Cond{}); err != nil {
				t.Fatalf("Put symlink %q: %v", p, err)
			}
		}
	}
	if a, ok := r.(remote.Area); ok {
		putArea(t, a, "log/1", []byte("log"))
		deleteIf(t, r, put(t, r, "w/trashed", "trashed"))
	}
}

func testWalk(t *testing.T, r remote.Remote, opts Options) {
	w := r.(remote.Walker)
	buildWalkTree(t, r, opts)
	want := map[string]remote.Entry{}
	listTree(t, r, "", want)
	got := walk(t, w)
	if len(got) != len(want) {
		t.Errorf("Walk reported %d entries, a recursive List %d", len(got), len(want))
	}
	for _, e := range got {
		l, ok := want[e.Path]
		if !ok {
			t.Errorf("Walk reported %q, which List does not", e.Path)
			continue
		}
		delete(want, e.Path)
		if e.Dir != l.Dir || e.Size != l.Size || e.Link != l.Link || (!e.Dir && e.Version != l.Version) {
			t.Errorf("Walk entry %+v, List entry %+v", e, l)
		}
	}
	for p := range want {
		t.Errorf("Walk misses %q", p)
	}

	stop := errors.New("stop here")
	calls := 0
	err := w.Walk(t.Context(), func(remote.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn: err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// testWalkEmpty checks Walk on an empty remote and on one that holds only
// the area.
func testWalkEmpty(t *testing.T, r remote.Remote, _ Options) {
	w := r.(remote.Walker)
	if got := walk(t, w); len(got) != 0 {
		t.Errorf("Walk of an empty remote = %v", got)
	}
	if a, ok := r.(remote.Area); ok {
		putArea(t, a, "log/1", []byte("log"))
		if got := walk(t, w); len(got) != 0 {
			t.Errorf("Walk of a remote with only the area = %v", got)
		}
	}
}
