package vfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestMkdirWhereAFileCameMeanwhile: a directory x made here waits to go
// up while another device puts a file x, and the poll applies that file
// first: the directory steps aside to a conflict name, journaled as a
// rename that waits behind its mkdir. The mkdir then meets their file. It
// must go to where the directory went, with what is in it, and the rename
// must not move their file; it retried at x for good, and nothing after it
// went up.
func TestMkdirWhereAFileCameMeanwhile(t *testing.T) {
	l, root := newLocal(t)
	fs, up := newSynced(t, l, journal.Config{WriteBack: time.Hour, Device: "devB"})
	x, err := fs.Mkdir(cache.RootID, "x", 0o755, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	(&rig{fs: fs}).writeFile(t, x.Ino, "in-b.txt", "in B's directory x")

	theirs := putTheirs(t, l, "x", "their file x", remote.Cond{IfNoneMatch: true})
	if err := up.ApplyChange(change("put", theirs)); err != nil { // the poller
		t.Fatal(err)
	}
	flushAll(t, up)

	if got, err := os.ReadFile(filepath.Join(root, "x")); err != nil || string(got) != "their file x" {
		t.Errorf("remote x = %q (%v), want their file", got, err)
	}
	got, err := os.ReadFile(filepath.Join(root, conflictIn(t, root, "x"), "in-b.txt"))
	if err != nil || string(got) != "in B's directory x" {
		t.Errorf("x (conflict ...)/in-b.txt on the remote: %q (%v), want B's file", got, err)
	}
}

// TestBackupFileWhereItsDirectoryStays: in the backup mode a local rm -r
// stays local, so when a file then takes the directory's name here, the
// remote still has the directory. The file goes up beside it, at a
// conflict name; its upload failed for good, trying to keep "theirs"
// aside by copying a directory.
func TestBackupFileWhereItsDirectoryStays(t *testing.T) {
	l, root := newLocal(t)
	fs, up := newSynced(t, l, journal.Config{Device: "devU", UploadOnly: true, KeepDeletes: true})
	r := &rig{fs: fs}
	d, err := fs.Mkdir(cache.RootID, "d", 0o755, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	r.writeFile(t, d.Ino, "f", "kept by the backup")
	flushAll(t, up)
	if err := fs.Unlink(d.Ino, "f"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rmdir(cache.RootID, "d"); err != nil {
		t.Fatal(err)
	}
	r.writeFile(t, cache.RootID, "d", "a file now")
	flushAll(t, up)

	if got, err := os.ReadFile(filepath.Join(root, "d", "f")); err != nil || string(got) != "kept by the backup" {
		t.Errorf("remote d/f = %q (%v), want it kept", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(root, conflictIn(t, root, "d"))); err != nil || string(got) != "a file now" {
		t.Errorf("the file d beside the directory on the remote, as d (conflict ...): %q (%v)", got, err)
	}
}

// conflictIn returns the name of the first conflict copy of name in dir,
// or fails t if there is none.
func conflictIn(t *testing.T, dir, name string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+" (conflict ") {
			return e.Name()
		}
	}
	t.Fatalf("no %s (conflict ...) in %s: %v", name, dir, ents)
	return ""
}
