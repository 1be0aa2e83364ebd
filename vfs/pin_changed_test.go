package vfs

import (
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestPinWhileRemoteChangeDownloads: `ferry pin` of a file only on the
// remote, while a remote change comes in during its download. That
// download is of the old version and is dropped; the pin must fetch the
// version the mount shows now. It returned with the file still not on this
// device, so the pinned file was not available offline.
func TestPinWhileRemoteChangeDownloads(t *testing.T) {
	l, _ := newLocal(t)
	rem := &stallGet{Local: l}
	v1, v2 := "version 1\n", "version 2, newer\n"
	e1 := putTheirs(t, l, "b.txt", v1, remote.Cond{IfNoneMatch: true})
	fs, up := newSynced(t, rem, journal.Config{Device: "devB"})
	if err := up.ApplyChange(change("put", e1)); err != nil {
		t.Fatal(err)
	}
	rem.changeWhileFetching(t, up, e1, v2, func() error {
		_, err := fs.Pin("b.txt")
		return err
	})
	id, _, _ := fs.NodeAt("b.txt")
	if absent(t, fs, id) {
		t.Fatal("b.txt is still only on the remote after the pin")
	}
	r := &rig{fs: fs}
	if got := r.readFile(t, id); got != v2 {
		t.Errorf("b.txt reads %q, want %q", got, v2)
	}
}
