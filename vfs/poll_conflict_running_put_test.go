package vfs

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// holdPut holds the first Put of the armed path until released, then
// lets it through: an upload under way at the worst time.
type holdPut struct {
	*local.Local
	put gate
}

// Watch hides the folder's watcher (see unwatched).
func (*holdPut) Watch() {}

func (h *holdPut) Put(ctx context.Context, p string, r io.Reader, size int64, m remote.Meta, c remote.Cond) (remote.Entry, error) {
	h.put.wait(p)
	return h.Local.Put(ctx, p, r, size, m, c)
}

// TestPollConflictWhileNewFileUploads: a new file b.txt goes up here
// while another device has put b.txt and deleted it again. The poll
// applied their put while this device's upload ran: both sides changed
// b.txt, so this one stepped aside to a conflict name and went up there,
// and their delete then took their b.txt away. The upload under way,
// conditional on nothing being at b.txt, still landed there, and stayed
// on the remote (other devices showed it) though this device no longer
// showed b.txt: only a rescan brought it back. (Since the recheck of
// their put leaves b.txt to the upload under way, see
// TestPollRecheckWhileNewFileLands, b.txt simply goes up and stays.)
func TestPollConflictWhileNewFileUploads(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	rem := &holdPut{Local: l}
	fs, up := newPolling(t, rem, journal.Config{Device: "devB", DeviceID: "b1"})

	// The other device: puts b.txt, then deletes it.
	theirs := "device A, write 10"
	put := putTheirs(t, l, "b.txt", theirs, remote.Cond{IfNoneMatch: true})
	if err := l.Delete(ctx, "b.txt", remote.Cond{IfMatch: put.Version}); err != nil {
		t.Fatal(err)
	}

	// This device writes b.txt; its upload is held on the way.
	entered, release := rem.put.arm("b.txt")
	ours := "device B, write 22"
	(&rig{fs: fs}).writeFile(t, cache.RootID, "b.txt", ours)
	flushed := flushing(t, up)
	<-entered

	pollTheirs(t, l, up, change("put", put), journal.Change{Op: "delete", Path: "b.txt", Version: put.Version})
	close(release)
	<-flushed
	flushAll(t, up)

	_, _, shown := fs.NodeAt("b.txt")
	_, onRemote := l.Stat(ctx, "b.txt")
	if shown != (onRemote == nil) {
		t.Errorf("b.txt: shown here %v, on the remote %v", shown, onRemote == nil)
	}
	copies := 0
	var names []string
	l.List(ctx, "", func(e remote.Entry) error {
		names = append(names, e.Path)
		if strings.HasPrefix(e.Path, "b (conflict") {
			copies++
		}
		return nil
	})
	if copies != 0 {
		t.Errorf("remote holds %v, want no conflict copy of b.txt: only ours was ever there with theirs gone", names)
	}
	readAt(t, fs, l, "b.txt", ours)
}
