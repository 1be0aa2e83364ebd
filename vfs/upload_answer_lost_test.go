package vfs

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// loseAnswer lands the first Put, then answers as the S3 client does when
// the answer was lost and the request, sent again, fails its condition on
// what the first one wrote.
type loseAnswer struct {
	*local.Local
	lost atomic.Bool
}

func (r *loseAnswer) Put(ctx context.Context, p string, rd io.Reader, size int64, m remote.Meta, c remote.Cond) (remote.Entry, error) {
	e, err := r.Local.Put(ctx, p, rd, size, m, c)
	if err == nil && r.lost.CompareAndSwap(false, true) {
		return remote.Entry{}, fmt.Errorf("put %q (sent again): %w", p, remote.ErrPrecondition)
	}
	return e, err
}

// TestUploadAnswerLostIsLogged: a new file's upload lands, but its answer
// is lost and the request sent again fails its If-None-Match on it. The
// uploader finds its own content there and adopts it, but did not log
// the put: other devices, polling, never showed the file (only a rescan
// brought it), though it is on the remote.
func TestUploadAnswerLostIsLogged(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fsA, upA := newSynced(t, &loseAnswer{Local: l}, journal.Config{Device: "devA", DeviceID: "a1"})
	fsB, upB := newSynced(t, l, journal.Config{Device: "devB", DeviceID: "b1"})
	upA.StartPolling(journal.PollConfig{Interval: time.Hour})
	upB.StartPolling(journal.PollConfig{Interval: time.Hour})

	(&rig{fs: fsA}).writeFile(t, cache.RootID, "f.txt", "A's f")
	flushAll(t, upA)
	if _, err := l.Stat(ctx, "f.txt"); err != nil {
		t.Fatalf("f.txt is not on the remote: %v", err)
	}
	if err := upB.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	readAt(t, fsB, l, "f.txt", "A's f")
}
