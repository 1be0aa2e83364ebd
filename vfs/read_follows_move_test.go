package vfs

import (
	"context"
	"testing"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// TestReadFollowsAMoveNotPolledYet: the other device moves a directory
// holding a file this device never downloaded, and this device opens the
// file at its old path before a poll tells it of the move. The download
// found nothing there and took the file for deleted on the remote: it
// removed it, and the poll then moved the directory without it (git, or a
// walk of the tree, read it at just that moment in a real mount). A poll
// now tells where it went, and the read gets its content from there.
func TestReadFollowsAMoveNotPolledYet(t *testing.T) {
	l, fs, _, id := movedUnpolled(t)
	readAt(t, fs, l, "d/f.txt", "theirs") // open by the node the kernel looked up
	if _, _, ok := fs.NodeAt("d/f.txt"); ok {
		t.Error("d/f.txt still shows after the poll of the move")
	}
	if nid, _, ok := fs.NodeAt("e/f.txt"); !ok || nid != id {
		t.Errorf("e/f.txt is node %d (shows: %v), want the node read, %d", nid, ok, id)
	}
}

// TestChangeFollowsAMoveNotPolledYet: as TestReadFollowsAMoveNotPolledYet,
// but this device changes the file's mode, or renames it, instead of
// reading it. The upload found no remote copy at the old path and took the
// file for deleted: it removed it here. A poll now tells of the move, and
// the change goes to where the file is.
func TestChangeFollowsAMoveNotPolledYet(t *testing.T) {
	for _, how := range []string{"chmod", "rename"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			l, fs, up, id := movedUnpolled(t)
			want := "e/f.txt"
			switch how {
			case "chmod":
				mode := uint32(0o600)
				if _, err := fs.SetAttr(id, SetAttr{Mode: &mode}); err != nil {
					t.Fatal(err)
				}
			case "rename":
				root, _, _ := fs.NodeAt("")
				d, _, _ := fs.NodeAt("d")
				if err := fs.Rename(d, "f.txt", root, "g.txt", 0); err != nil {
					t.Fatal(err)
				}
				want = "g.txt"
			}
			flushAll(t, up)
			if err := up.PollOnce(ctx); err != nil {
				t.Fatal(err)
			}
			readAt(t, fs, l, want, "theirs")
			s, err := l.Stat(ctx, want)
			if err != nil {
				t.Fatalf("%s is not on the remote: %v", want, err)
			}
			if how == "chmod" && s.Mode.Perm() != 0o600 {
				t.Errorf("%s has mode %o on the remote, want 600", want, s.Mode.Perm())
			}
		})
	}
}

// movedUnpolled sets up the tests above: another device puts d/f.txt,
// which this device polls and shows, not downloaded (node id), then moves
// d to e and logs it, which this device has not polled yet.
func movedUnpolled(t *testing.T) (l *local.Local, fs *FS, up *journal.Uploader, id uint64) {
	t.Helper()
	l, _ = newLocal(t)
	fs, up = newPolling(t, unwatched{l}, journal.Config{Device: "devB", DeviceID: "b1"})
	e := putTheirs(t, l, "d/f.txt", "theirs", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "mkdir", Path: "d", Dir: true}, change("put", e))
	id, _, ok := fs.NodeAt("d/f.txt")
	if !ok || !absent(t, fs, id) {
		t.Fatal("d/f.txt does not show as not downloaded")
	}
	if err := l.Rename(context.Background(), "d", "e"); err != nil {
		t.Fatal(err)
	}
	logTheirs(t, l, journal.Change{Op: "move", Path: "d", To: "e", Dir: true})
	return l, fs, up, id
}
