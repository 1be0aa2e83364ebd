package vfs

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// moveHook is the mount's tree with a hook run right after a remote move
// is applied to it, before the poller tells the uploader.
type moveHook struct {
	*FS
	after func()
}

func (m *moveHook) MoveAt(from, to string) error {
	err := m.FS.MoveAt(from, to)
	if m.after != nil {
		m.after()
	}
	return err
}

// TestEditUploadAsItsDirectoryMoves: this device's edit of d/c.txt goes up
// while another device moves d to e, and the upload finds its version
// gone from d/c.txt just as the poll has moved the file here to e/c.txt,
// before the poll told the uploader of the move. The upload took the name
// for taken by another version: the edit counted as done, superseded, and
// never went up; this device showed it, and nobody else ever did.
func TestEditUploadAsItsDirectoryMoves(t *testing.T) {
	ctx := context.Background()
	l, rem, tree, fs, up := theirsInD(t, "c.txt", "c")

	// The edit's upload is held on its way; meanwhile they move d to e.
	entered, release := rem.put.arm("d/c.txt")
	const ours = "c, edited here"
	c, _, _ := fs.NodeAt("d/c.txt")
	fh, err := fs.Open(c, syscall.O_WRONLY|syscall.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	writeAndClose(t, fs, fh, ours)
	done := flushing(t, up)
	<-entered
	if err := l.Rename(ctx, "d", "e"); err != nil {
		t.Fatal(err)
	}
	// The upload goes on, and ends, once the tree shows the move and
	// before the uploader hears of it.
	tree.after = func() {
		tree.after = nil
		close(release)
		time.Sleep(300 * time.Millisecond) // the upload ends, and tries again
	}
	pollTheirs(t, l, up, journal.Change{Op: "move", Path: "d", To: "e", Dir: true})
	<-done
	flushAll(t, up)
	readAt(t, fs, l, "e/c.txt", ours)
	if got, err := l.Get(ctx, "e/c.txt", 0, -1, ""); err == nil {
		b := make([]byte, 100)
		n, _ := got.Read(b)
		got.Close()
		if string(b[:n]) != ours {
			t.Errorf("the remote has %q at e/c.txt, want the edit %q", b[:n], ours)
		}
	} else {
		t.Errorf("e/c.txt is not on the remote: %v", err)
	}
}

// TestFileLeftBehindTakesNoDirectoryAlong: this device makes d/new.txt
// while another device moves d to e, and its upload lands at d/new.txt
// after the move. The poll of the move then has it move the file to
// e/new.txt after the directory. The remote kept d (it keeps the parent
// of a file moved out, as a filesystem does), which this device no longer
// has, and which other devices showed, empty, for good: it is removed, and
// its removal logged, so that another device drops the d that their copy
// of the upload made.
func TestFileLeftBehindTakesNoDirectoryAlong(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, unwatched{l}, journal.Config{Device: "devB", DeviceID: "b1"})

	e := putTheirs(t, l, "d/f.txt", "f", remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "mkdir", Path: "d", Dir: true}, change("put", e))
	d, _, _ := fs.NodeAt("d")

	if err := l.Rename(ctx, "d", "e"); err != nil {
		t.Fatal(err)
	}
	(&rig{fs: fs}).writeFile(t, d, "new.txt", "new")
	flushAll(t, up) // lands at d/new.txt
	pollTheirs(t, l, up, journal.Change{Op: "move", Path: "d", To: "e", Dir: true})
	flushAll(t, up)

	readAt(t, fs, l, "e/new.txt", "new")
	readAt(t, fs, l, "e/f.txt", "f")
	if s, err := l.Stat(ctx, "d"); err == nil {
		t.Errorf("the remote still has d: %+v", s)
	}
	logged := false
	l.ListArea(ctx, "log/", "", 0, func(o remote.AreaObject) error {
		b, err := l.GetArea(ctx, o.Name)
		logged = logged || err == nil && strings.Contains(string(b), `{"op":"rmdir","path":"d","dir":true`)
		return err
	})
	if !logged {
		t.Error("the change log does not say that d was removed")
	}
}

// TestNewFileLandsAsItsDirectoryMoves: this device's new file d/new.txt is
// on its way up when a poll applies another device's move of d to e. The
// upload lands at d/new.txt, where the mount no longer shows it: it stayed
// there for good, beside e, and other devices showed d/new.txt. It is
// moved after the directory instead: whether it lands once the poll has
// applied the move, or while the poll moves the file in the tree, before
// it tells the uploader.
func TestNewFileLandsAsItsDirectoryMoves(t *testing.T) {
	for _, when := range []string{"after", "during"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			l, rem, tree, fs, up := theirsInD(t, "f.txt", "f")
			d, _, _ := fs.NodeAt("d")

			entered, release := rem.put.arm("d/new.txt")
			(&rig{fs: fs}).writeFile(t, d, "new.txt", "new")
			done := flushing(t, up)
			<-entered
			if err := l.Rename(ctx, "d", "e"); err != nil {
				t.Fatal(err)
			}
			if when == "during" {
				tree.after = func() {
					tree.after = nil
					close(release)
					for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
						if _, err := l.Stat(ctx, "d/new.txt"); err == nil {
							break // landed
						}
					}
					time.Sleep(50 * time.Millisecond) // the upload ends meanwhile
				}
			}
			pollTheirs(t, l, up, journal.Change{Op: "move", Path: "d", To: "e", Dir: true})
			if when == "after" {
				close(release)
			}
			<-done
			flushAll(t, up)

			readAt(t, fs, l, "e/new.txt", "new")
			readAt(t, fs, l, "e/f.txt", "f")
			for _, p := range []string{"d/new.txt", "d"} {
				if _, err := l.Stat(ctx, p); err == nil {
					t.Errorf("the remote still has %s", p)
				}
			}
		})
	}
}

// theirsInD sets up the tests above: a mount whose remote holds puts
// (holdPut) and whose tree has a hook after remote moves (moveHook), which
// shows the other device's d/name, holding content.
func theirsInD(t *testing.T, name, content string) (*local.Local, *holdPut, *moveHook, *FS, *journal.Uploader) {
	t.Helper()
	l, _ := newLocal(t)
	rem := &holdPut{Local: l}
	tree := &moveHook{}
	fs, up := newSyncedTree(t, rem, journal.Config{Device: "devB", DeviceID: "b1"}, func(fs *FS) journal.Tree {
		tree.FS = fs
		return tree
	})
	up.StartPolling(journal.PollConfig{Interval: time.Hour})
	e := putTheirs(t, l, "d/"+name, content, remote.Cond{IfNoneMatch: true})
	pollTheirs(t, l, up, journal.Change{Op: "mkdir", Path: "d", Dir: true}, change("put", e))
	return l, rem, tree, fs, up
}
