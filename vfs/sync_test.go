package vfs

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

func TestConflictName(t *testing.T) {
	const sfx = " (conflict 2026-11-21 101500 laptop)"
	for _, c := range []struct {
		name string
		dir  bool
		want string
	}{
		{"report.txt", false, "report" + sfx + ".txt"},
		{"archive.tar.gz", false, "archive.tar" + sfx + ".gz"},
		{"Makefile", false, "Makefile" + sfx},
		{".bashrc", false, ".bashrc" + sfx},
		{"photos.2024", true, "photos.2024" + sfx},
	} {
		if got := ConflictName(c.name, sfx, c.dir); got != c.want {
			t.Errorf("ConflictName(%q, dir=%v) = %q, want %q", c.name, c.dir, got, c.want)
		}
	}
	long := strings.Repeat("é", 120) + ".txt" // 244 bytes
	got := ConflictName(long, sfx, false)
	if len(got) > NameMax || !utf8.ValidString(got) || !strings.HasSuffix(got, sfx+".txt") {
		t.Errorf("ConflictName of a long name = %q (%d bytes), want at most %d valid bytes ending in the suffix", got, len(got), NameMax)
	}
}

// TestRemoteChangeSparesOpenWriter: a file open for writing has changes
// nobody journaled yet; a change from the remote must not replace it,
// remove it or move another file onto it.
func TestRemoteChangeSparesOpenWriter(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.writeFile(t, cache.RootID, "other.txt", "theirs")
	_, fh, err := r.fs.Create(cache.RootID, "doc.txt", syscall.O_WRONLY, 0o644, me)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.fs.Write(fh, []byte("mine"), 0); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"ApplyEntry": func() error {
			_, err := r.fs.ApplyEntry(remote.Entry{Path: "doc.txt", Size: 9, Version: "v2"})
			return err
		}(),
		"RemoveAt": r.fs.RemoveAt("doc.txt", 0),
		"MoveAt":   r.fs.MoveAt("other.txt", "doc.txt"),
	} {
		if !errors.Is(err, journal.ErrLocalChanges) {
			t.Errorf("%s on a file open for writing: %v, want ErrLocalChanges", what, err)
		}
	}
	if err := r.fs.Flush(fh); err != nil {
		t.Fatal(err)
	}
	r.fs.Release(fh)
	id, dir, ok := r.fs.NodeAt("doc.txt")
	if !ok || dir {
		t.Fatalf("doc.txt is gone")
	}
	if got := r.readFile(t, id); got != "mine" {
		t.Errorf("doc.txt holds %q, want the local writes %q", got, "mine")
	}
	// Closed, its changes are in the journal, and the uploader's own
	// checks take over: the tree no longer refuses.
	if _, err := r.fs.ApplyEntry(remote.Entry{Path: "doc.txt", Size: 9, Version: "v2"}); err != nil {
		t.Errorf("ApplyEntry after close: %v", err)
	}
}

// TestOpenOfRemovedFileIsStale: a file a remote change removed, opened
// through the name the kernel still had for it, fails with ESTALE, so
// that the kernel looks the name up again, rather than opening a file no
// longer in the tree, whose writes nobody would ever see.
func TestOpenOfRemovedFileIsStale(t *testing.T) {
	r := newRig(t, t.TempDir())
	id := r.writeFile(t, cache.RootID, "doc.txt", "theirs")
	// Meant for another node, the removal leaves this one.
	if err := r.fs.RemoveAt("doc.txt", id+1000); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := r.fs.NodeAt("doc.txt"); !ok || got != id {
		t.Fatalf("RemoveAt of another node took doc.txt: %d, %v", got, ok)
	}
	if err := r.fs.RemoveAt("doc.txt", id); err != nil {
		t.Fatal(err)
	}
	for _, flags := range []uint32{syscall.O_RDONLY, syscall.O_WRONLY | syscall.O_TRUNC} {
		if fh, err := r.fs.Open(id, flags); err != syscall.ESTALE {
			if err == nil {
				r.fs.Release(fh)
			}
			t.Errorf("open (flags %#x) of a file removed by a remote change: %v, want ESTALE", flags, err)
		}
	}
	// A file unlinked here is opened as usual (through /proc/PID/fd, say).
	id = r.writeFile(t, cache.RootID, "mine.txt", "mine")
	fh, err := r.fs.Open(id, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fs.Unlink(cache.RootID, "mine.txt"); err != nil {
		t.Fatal(err)
	}
	fh2, err := r.fs.Open(id, syscall.O_RDONLY)
	if err != nil {
		t.Errorf("open of a file unlinked here, still open: %v", err)
	} else {
		r.fs.Release(fh2)
	}
	r.fs.Release(fh)
}
