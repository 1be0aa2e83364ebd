package vfs

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// listFails is a local folder remote without its watcher, whose listings
// of the directory path fail while fails is above zero (each one counts
// down).
type listFails struct {
	*local.Local
	path  string
	fails atomic.Int32
}

func (l *listFails) List(ctx context.Context, dir string, fn func(remote.Entry) error) error {
	if dir == l.path && l.fails.Add(-1) >= 0 {
		return errors.New("listing refused for the test")
	}
	return l.Local.List(ctx, dir, fn)
}

// Watch hides the local folder's watcher: the test's remote changes must
// reach the mount through the uploader alone.
func (l *listFails) Watch(ctx context.Context, fn func(remote.Changes)) error {
	return errors.New("no watching in this test")
}

// TestSettleMovedRetries: after moving a directory, the uploader lists its
// new place to show what other devices put there. When that listing fails,
// the polls that follow try again until it works; before, the file another
// device added stayed out of sight until a rescan.
func TestSettleMovedRetries(t *testing.T) {
	l, _ := newLocal(t)
	rem := &listFails{Local: l, path: "e"}
	fs, up := newSynced(t, rem, journal.Config{Device: "devA", DeviceID: "a1"})
	up.StartPolling(journal.PollConfig{Interval: 20 * time.Millisecond})

	d, err := fs.Mkdir(cache.RootID, "d", 0o755, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	(&rig{fs: fs}).writeFile(t, d.Ino, "x", "mine")
	flushAll(t, up)

	// Another device adds d/new.txt and logs nothing: only a listing of
	// the directory shows it.
	putTheirs(t, l, "d/new.txt", "theirs", remote.Cond{IfNoneMatch: true})
	rem.fails.Store(2)
	renameHere(t, fs, "d", "e")
	flushAll(t, up)
	if rem.fails.Load() > 1 {
		t.Fatal("the move did not list its new place")
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, ok := fs.NodeAt("e/new.txt"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("e/new.txt, put there by another device, never showed (listings refused left: %d)", rem.fails.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, _, ok := fs.NodeAt("e/x"); !ok {
		t.Error("e/x went missing")
	}
}

// TestSettleRetryOfAGoneDirectory: a directory move whose listing failed
// is settled by later polls, but only while its new place is still a
// directory. Deleted here meanwhile, or replaced by a file, there is
// nothing to settle: the retry brought the directory back here, as an
// empty one the remote did not have, and pushed the new file aside.
func TestSettleRetryOfAGoneDirectory(t *testing.T) {
	for _, replace := range []bool{false, true} {
		name := "deleted"
		if replace {
			name = "replaced by a file"
		}
		t.Run(name, func(t *testing.T) {
			l, root := newLocal(t)
			rem := &listFails{Local: l, path: "e"}
			fs, up := newSynced(t, rem, journal.Config{Device: "devA", DeviceID: "a1"})
			up.StartPolling(journal.PollConfig{Interval: 20 * time.Millisecond})
			r := &rig{fs: fs}
			d, err := fs.Mkdir(cache.RootID, "d", 0o755, Caller{})
			if err != nil {
				t.Fatal(err)
			}
			r.writeFile(t, d.Ino, "x", "mine")
			flushAll(t, up)

			rem.fails.Store(1 << 30) // every listing of e fails for now
			renameHere(t, fs, "d", "e")
			flushAll(t, up)
			if err := fs.Unlink(d.Ino, "x"); err != nil {
				t.Fatal(err)
			}
			if err := fs.Rmdir(cache.RootID, "e"); err != nil {
				t.Fatal(err)
			}
			if replace {
				r.writeFile(t, cache.RootID, "e", "a file now")
			}
			flushAll(t, up)
			rem.fails.Store(0)
			time.Sleep(500 * time.Millisecond) // some 25 polls, each of which may retry
			flushAll(t, up)

			_, dir, ok := fs.NodeAt("e")
			switch {
			case replace && (!ok || dir):
				t.Errorf("e here: exists %v, directory %v; want the file", ok, dir)
			case !replace && ok:
				t.Error("e came back here after it was deleted")
			}
			names, err := os.ReadDir(root)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range names {
				if e.Name() != ".ferry" && e.Name() != "e" {
					t.Errorf("remote holds %s", e.Name())
				}
			}
		})
	}
}
