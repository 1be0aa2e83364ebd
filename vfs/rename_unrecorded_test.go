package vfs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// stallPut stalls the first Put of path once armed, and then fails it
// like a connection refused, as stallStat stalls a Stat.
type stallPut struct {
	*stallStat
	put gate
}

func (s *stallPut) Put(ctx context.Context, p string, r io.Reader, size int64, m remote.Meta, c remote.Cond) (remote.Entry, error) {
	if s.put.wait(p) {
		return remote.Entry{}, errors.New("connection refused")
	}
	return s.Local.Put(ctx, p, r, size, m, c)
}

// TestRenameOfUnuploadedFileKeepsItsContent: a file never uploaded is
// renamed a.txt → b.txt while another device moves a file of its own to
// a.txt, with content this device knows from a file it downloaded and has
// renamed since (its move still waits). The rename must not take their
// a.txt for this file's and move it to b.txt in its place: this file's
// content goes up at b.txt, and theirs stays at a.txt.
func TestRenameOfUnuploadedFileKeepsItsContent(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	rem := &stallPut{stallStat: &stallStat{Local: l}}
	theirs, ours := "device A, write 15\n", "device B, write 20\n"
	eg := putTheirs(t, l, "g.txt", theirs, remote.Cond{IfNoneMatch: true})

	fs, up := newSynced(t, rem, journal.Config{Device: "devB"})
	if err := up.ApplyChange(change("put", eg)); err != nil { // downloaded: its record knows the hash
		t.Fatal(err)
	}

	// g.txt is renamed here; its move waits (the remote does not answer).
	gEntered, gRelease := rem.stallStat.arm("e.txt")
	renameHere(t, fs, "g.txt", "e.txt")
	<-gEntered

	// A new file at a.txt: its first upload does not get through.
	pEntered, _ := rem.put.arm("a.txt")
	_, fh, err := fs.Create(cache.RootID, "a.txt", syscall.O_WRONLY, 0o644, me)
	if err != nil {
		t.Fatal(err)
	}
	writeAndClose(t, fs, fh, ours)
	<-pEntered
	// Meanwhile the other device moves its g.txt to a.txt, and the new
	// file is renamed here to b.txt.
	if err := l.Rename(ctx, "g.txt", "a.txt"); err != nil {
		t.Fatal(err)
	}
	renameHere(t, fs, "a.txt", "b.txt")
	close(rem.put.release)

	// Once the rename is done on the remote, g.txt's move may go on.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := l.Stat(ctx, "b.txt"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing reached b.txt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gRelease)
	flushAll(t, up)

	got := map[string]string{}
	for _, p := range []string{"a.txt", "b.txt"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err == nil {
			got[p] = string(b)
		}
	}
	if got["b.txt"] != ours {
		t.Errorf("remote b.txt holds %q, want this device's %q", got["b.txt"], ours)
	}
	if got["a.txt"] != theirs {
		t.Errorf("remote a.txt holds %q, want the other device's %q", got["a.txt"], theirs)
	}
}
