package vfs

import (
	"context"
	"testing"
)

// TestPollMoveFromRenamedKeepsRecord: c.txt, uploaded, is renamed here onto
// e.txt, which shows the other device's file. Before the rename goes up,
// that device moves its e.txt to f.txt, and the poll brings the move. It
// found the renamed file at e.txt, changed here, and forgot its record,
// which still named c.txt, as if it were of the version they moved: the
// waiting rename then went up as one of a file never uploaded, which put
// it at e.txt and left c.txt on the remote for good; other devices showed
// a c.txt this one no longer has.
func TestPollMoveFromRenamedKeepsRecord(t *testing.T) {
	ctx := context.Background()
	l, _, fs, up, old := renamedOntoTheirs(t)

	mv := moveTheirs(t, l, "e.txt", "f.txt", old.Version)
	pollTheirs(t, l, up, mv)
	flushAll(t, up)

	if _, err := l.Stat(ctx, "c.txt"); err == nil {
		t.Errorf("c.txt is still on the remote, though this device renamed it away")
	}
	readAt(t, fs, l, "e.txt", "mine")
	readAt(t, fs, l, "f.txt", "their e")
	rc, err := l.Get(ctx, "e.txt", 0, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}
