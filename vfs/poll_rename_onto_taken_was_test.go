package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
)

// TestPollRenameOntoTakenKeepsNewerAtOldName: device A renames g.txt onto
// c.txt, which B has meanwhile made on the remote: A's rename moves its
// file to a conflict name instead (renameOntoTaken). B, which never saw
// A's g.txt, then makes a g.txt of its own and uploads it, and polls. The
// move was logged without the version it took from g.txt, so B's poll
// moved B's own g.txt to the conflict name, where A's version replaced its
// content: B lost its g.txt, which the remote and A keep.
func TestPollRenameOntoTakenKeepsNewerAtOldName(t *testing.T) {
	ctx := context.Background()
	l, root := newLocal(t)
	fsA, upA := newSynced(t, l, journal.Config{Device: "devA", DeviceID: "a1"})
	fsB, upB := newSynced(t, unwatched{l}, journal.Config{Device: "devB", DeviceID: "b1"})
	upA.StartPolling(journal.PollConfig{Interval: time.Hour})
	upB.StartPolling(journal.PollConfig{Interval: time.Hour})
	// B's first poll, at once on a new cache, is over before A writes:
	// a late one would show B A's g.txt before B makes its own.
	for deadline := time.Now().Add(5 * time.Second); upB.PollStats().LastPoll.IsZero() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := upB.PollOnce(ctx); err != nil { // waits for that one to end
		t.Fatal(err)
	}

	(&rig{fs: fsA}).writeFile(t, cache.RootID, "g.txt", "A's g")
	flushAll(t, upA)
	(&rig{fs: fsB}).writeFile(t, cache.RootID, "c.txt", "B's c")
	flushAll(t, upB)
	// A, which has not heard of B's c.txt, renames g.txt onto it.
	renameHere(t, fsA, "g.txt", "c.txt")
	flushAll(t, upA)
	aside := conflictIn(t, root, "c")

	// B makes g.txt, free again on the remote, and then polls.
	(&rig{fs: fsB}).writeFile(t, cache.RootID, "g.txt", "B's g")
	flushAll(t, upB)
	if err := upB.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	flushAll(t, upB)

	readAt(t, fsB, l, "g.txt", "B's g")
	readAt(t, fsB, l, aside, "A's g")
	readAt(t, fsB, l, "c.txt", "B's c")
}
