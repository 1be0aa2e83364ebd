package vfs

import (
	"context"
	"io"
	"syscall"
	"testing"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// stallPutAnswer stalls the answer to the first Put of path once armed:
// the upload lands, and the proxy in between goes down before it answers.
type stallPutAnswer struct {
	*local.Local
	gate
}

func (s *stallPutAnswer) Put(ctx context.Context, p string, r io.Reader, size int64, meta remote.Meta, cond remote.Cond) (remote.Entry, error) {
	e, err := s.Local.Put(ctx, p, r, size, meta, cond)
	s.wait(p)
	return e, err
}

// TestPollDeleteOfLandingUpload: a.txt, uploaded, is written again here,
// and that upload lands on the remote but its answer is slow to come. The
// other device sees the new version, deletes it, and the poll brings the
// delete while the upload still runs: the file stayed, for its own upload
// to decide, and that upload, done, recorded the deleted version as on
// the remote. This device showed a.txt for good; the remote and the other
// device did not have it.
func TestPollDeleteOfLandingUpload(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t)
	rem := &stallPutAnswer{Local: l}
	fs, up := newPolling(t, rem, journal.Config{Device: "devB", DeviceID: "b1"})
	r := &rig{fs: fs}
	id := r.writeFile(t, cache.RootID, "a.txt", "mine 1")
	flushAll(t, up)

	entered := make(chan struct{})
	rem.mu.Lock()
	rem.path, rem.entered, rem.release = "a.txt", entered, make(chan struct{})
	rem.mu.Unlock()
	fh, err := fs.Open(id, syscall.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Write(fh, []byte("mine 2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := fs.Flush(fh); err != nil {
		t.Fatal(err)
	}
	fs.Release(fh)
	<-entered // landed, not answered yet
	landed, err := l.Stat(ctx, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "a.txt", remote.Cond{IfMatch: landed.Version}); err != nil {
		t.Fatal(err)
	}
	pollTheirs(t, l, up, journal.Change{Op: "delete", Path: "a.txt", Version: landed.Version})
	close(rem.release)
	flushAll(t, up)
	if err := up.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	flushAll(t, up)

	_, rerr := l.Stat(ctx, "a.txt")
	if _, _, ok := fs.NodeAt("a.txt"); ok != (rerr == nil) {
		t.Errorf("a.txt shows here: %v; on the remote: %v", ok, rerr)
	}
}
