package vfs

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/zeebo/blake3"
)

// TestReadGoneThenShownElsewhere: another device moves a file this device
// never downloaded, and logs the move only after this device has tried to
// read the file at its old name. The read finds nothing and the
// file goes from the mount. Its record went on saying this device had the
// file's content, so the poll of the move took the content at the new name
// for this device's own: the new name never showed here, and this
// device's next write there replaced the other device's file.
func TestReadGoneThenShownElsewhere(t *testing.T) {
	ctx := context.Background()
	l, dir := newLocal(t)
	fs, up := newPolling(t, unwatched{l}, journal.Config{Device: "devB", DeviceID: "b1"})
	sum := blake3.Sum256([]byte("theirs"))
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644, Hash: hex.EncodeToString(sum[:])}
	e, err := l.Put(ctx, "f.txt", strings.NewReader("theirs"), 6, meta, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Hash == "" {
		t.Fatal("the folder remote keeps no hash here: the test needs one")
	}
	pollTheirs(t, l, up, change("put", e))
	id, _, ok := fs.NodeAt("f.txt")
	if !ok || !absent(t, fs, id) {
		t.Fatal("f.txt does not show as not downloaded")
	}
	if err := l.Rename(ctx, "f.txt", "g.txt"); err != nil {
		t.Fatal(err)
	}
	fh, err := fs.Open(id, 0)
	if err == nil {
		_, err = fs.Read(fh, make([]byte, 10), 0)
		fs.Release(fh)
	}
	if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("read of f.txt, moved away unlogged: %v, want ENOENT or ESTALE", err)
	}
	if _, _, ok := fs.NodeAt("f.txt"); ok {
		t.Fatal("f.txt still shows after a read found it gone")
	}
	// Before it hears of the move, this device makes g.txt, and saves it
	// as an editor does: a temp file renamed over it.
	for _, name := range []string{"g.txt", "g.txt.tmp"} {
		_, fh, err := fs.Create(cache.RootID, name, syscall.O_WRONLY, 0o644, me)
		if err != nil {
			t.Fatal(err)
		}
		writeAndClose(t, fs, fh, "mine")
	}
	renameHere(t, fs, "g.txt.tmp", "g.txt")
	flushAll(t, up)
	g, err := l.Stat(ctx, "g.txt")
	if err != nil {
		t.Fatal(err)
	}
	pollTheirs(t, l, up, journal.Change{Op: "move", Path: "f.txt", To: "g.txt", Version: g.Version})
	flushAll(t, up)
	readAt(t, fs, l, "g.txt", "theirs")
	readAt(t, fs, l, conflictIn(t, dir, "g"), "mine")
}
