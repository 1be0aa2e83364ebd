package vfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

// TestRenameOverOursWhenSourceVanished: b.txt is renamed here over a.txt,
// both uploaded, but b.txt is gone from the remote meanwhile (deleted by
// another tool). The rename then uploads b.txt's content to a.txt instead,
// and that upload replaces the a.txt this device knew, as the rename did
// here. It used to write only where nothing was, so it was refused and
// made a conflict copy of this device's own file.
func TestRenameOverOursWhenSourceVanished(t *testing.T) {
	l, root := newLocal(t)
	fs, up := newSynced(t, l, journal.Config{Device: "devA"})
	for _, name := range []string{"a.txt", "b.txt"} {
		(&rig{fs: fs}).writeFile(t, cache.RootID, name, "content of "+name)
	}
	flushAll(t, up)
	if err := os.Remove(filepath.Join(root, "b.txt")); err != nil {
		t.Fatal(err)
	}
	renameHere(t, fs, "b.txt", "a.txt")
	flushAll(t, up)
	flushAll(t, up) // a conflict copy would go up with this one
	names, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range names {
		if e.Name() != ".ferry" {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 || files[0] != "a.txt" {
		t.Errorf("remote holds %v, want just a.txt", files)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.txt")); string(got) != "content of b.txt" {
		t.Errorf("remote a.txt = %q, want b.txt's content", got)
	}
}
