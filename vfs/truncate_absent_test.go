package vfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestTruncateToZeroOfRemoteOnlyFile: truncate(2) to 0 of a file whose
// content was never downloaded needs none of it, and must empty the file
// here and on the remote. The node stayed marked absent, as if its content
// were still the remote's copy, unlike after open with O_TRUNC.
func TestTruncateToZeroOfRemoteOnlyFile(t *testing.T) {
	l, root := newLocal(t)
	e := putTheirs(t, l, "f.txt", "remote content", remote.Cond{IfNoneMatch: true})
	fs, up := newSynced(t, l, journal.Config{Device: "devA"})
	fs.SetFetcher(up)
	if err := up.ApplyChange(change("put", e)); err != nil {
		t.Fatal(err)
	}
	id, _, ok := fs.NodeAt("f.txt")
	if !ok {
		t.Fatal("f.txt not applied")
	}
	zero := int64(0)
	if _, err := fs.SetAttr(id, SetAttr{Size: &zero}); err != nil {
		t.Fatal(err)
	}
	if absent(t, fs, id) {
		t.Error("f.txt is still marked absent after truncating to 0")
	}
	r := &rig{fs: fs}
	if got := r.readFile(t, id); got != "" {
		t.Errorf("mount reads %q after truncating to 0", got)
	}
	flushAll(t, up)
	if got, _ := os.ReadFile(filepath.Join(root, "f.txt")); len(got) != 0 {
		t.Errorf("remote f.txt = %q, want empty", got)
	}
}
