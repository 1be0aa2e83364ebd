package vfs

import (
	"context"
	"sync"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// statHook is holdPut that also runs hook (once armed) after the first
// Stat at its path returns: something that happens just then.
type statHook struct {
	*holdPut
	mu   sync.Mutex
	path string
	hook func()
}

func (s *statHook) Stat(ctx context.Context, p string) (remote.Entry, error) {
	e, err := s.holdPut.Stat(ctx, p)
	s.mu.Lock()
	var h func()
	if p == s.path {
		h, s.hook = s.hook, nil
	}
	s.mu.Unlock()
	if h != nil {
		h()
	}
	return e, err
}

// TestPollRecheckWhileNewFileLands: a new file b.txt goes up here while
// another device has put b.txt and deleted it again. The poll rechecks
// their put, as this device's upload touches b.txt, and finds b.txt gone:
// it kept the put, for the delete after it, since the mount shows a file
// there. This device's upload then landed, before the put was applied,
// which took that for a file the put replaced: their version took its
// place and their delete took that away. The mount lost b.txt; the remote
// kept this device's upload there, and other devices showed it.
func TestPollRecheckWhileNewFileLands(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	rem := &statHook{holdPut: &holdPut{Local: l}}
	fs, up := newPolling(t, rem, journal.Config{Device: "devB", DeviceID: "b1"})

	// The other device: puts b.txt, then deletes it.
	put := putTheirs(t, l, "b.txt", "theirs", remote.Cond{IfNoneMatch: true})
	if err := l.Delete(ctx, "b.txt", remote.Cond{IfMatch: put.Version}); err != nil {
		t.Fatal(err)
	}

	// This device writes b.txt; its upload is held on the way.
	entered, release := rem.put.arm("b.txt")
	(&rig{fs: fs}).writeFile(t, cache.RootID, "b.txt", "ours")
	flushed := flushing(t, up)
	<-entered

	logTheirs(t, l, change("put", put), journal.Change{Op: "delete", Path: "b.txt", Version: put.Version})
	// The upload lands right after the poll's recheck found b.txt gone.
	rem.mu.Lock()
	rem.path, rem.hook = "b.txt", func() { close(release); <-flushed }
	rem.mu.Unlock()
	if err := up.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	rem.mu.Lock()
	rechecked := rem.hook == nil
	rem.mu.Unlock()
	if !rechecked {
		t.Fatal("the poll did not recheck b.txt")
	}
	flushAll(t, up)

	readAt(t, fs, l, "b.txt", "ours")
}
