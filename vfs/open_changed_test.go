package vfs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// stallGet holds a download of path, once armed, after the remote has
// answered it: what it returns is the version asked for, however the
// remote changes while it is held.
type stallGet struct {
	*local.Local
	gate
}

func (s *stallGet) Get(ctx context.Context, p string, off, length int64, v string) (io.ReadCloser, error) {
	rc, err := s.Local.Get(ctx, p, off, length, v)
	s.wait(p)
	return rc, err
}

// changeWhileFetching runs do, which downloads old.Path (at version old),
// and while the download is held writes content there as another device
// and applies that change as the poller would. It fails t if do does.
func (s *stallGet) changeWhileFetching(t *testing.T, up *journal.Uploader, old remote.Entry, content string, do func() error) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.path, s.entered, s.release = old.Path, entered, release
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- do() }()
	<-entered // do downloads old
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	e, err := s.Local.Put(context.Background(), old.Path, strings.NewReader(content), int64(len(content)), meta, remote.Cond{IfMatch: old.Version})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.ApplyChange(change("put", e)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestOpenWhileRemoteChangeKeepsWrites: a file whose content is only on
// the remote is opened for writing, and a remote change comes in while it
// downloads (another device's version, or the same one applied again). The
// download is of the old version and is dropped; the open must fetch what
// the mount shows now, not open the file with no content: the reads of it
// were empty, and the writes were taken for metadata of the remote's copy,
// lost to the next remote change.
func TestOpenWhileRemoteChangeKeepsWrites(t *testing.T) {
	root := t.TempDir()
	l, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	rem := &stallGet{Local: l}
	v1, v2, ours := "device A, write 8\n", "device A, write 9, newer\n", "device B, write 25\n"
	e1 := putTheirs(t, l, "b.txt", v1, remote.Cond{IfNoneMatch: true})

	fs, up := newSynced(t, rem, journal.Config{Device: "devB"})
	if err := up.ApplyChange(change("put", e1)); err != nil {
		t.Fatal(err)
	}
	id, _, _ := fs.NodeAt("b.txt")

	var fh uint64
	rem.changeWhileFetching(t, up, e1, v2, func() (err error) {
		fh, err = fs.Open(id, syscall.O_RDWR)
		return err
	})
	if nid, _, _ := fs.NodeAt("b.txt"); nid != id {
		t.Fatalf("b.txt is node %d now, want %d", nid, id)
	}
	buf := make([]byte, 100)
	n, err := fs.Read(fh, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != v2 {
		t.Errorf("b.txt reads %q, want the version the mount shows, %q", got, v2)
	}
	if _, err := fs.SetAttr(id, SetAttr{Size: new(int64)}); err != nil {
		t.Fatal(err)
	}
	writeAndClose(t, fs, fh, ours)
	flushAll(t, up)
	if b, err := os.ReadFile(filepath.Join(root, "b.txt")); err != nil || string(b) != ours {
		t.Errorf("remote b.txt holds %q (%v), want this device's write %q", b, err, ours)
	}
}
