package vfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// newSynced makes an FS over a fresh cache with an uploader to rem, wired
// as a mount wires them, for tests of the two meeting. cfg gets Tree, and
// defaults for Transfers and MaxBackoff.
func newSynced(t *testing.T, rem remote.Remote, cfg journal.Config) (*FS, *journal.Uploader) {
	t.Helper()
	return newSyncedTree(t, rem, cfg, nil)
}

// newSyncedTree is newSynced with the uploader seeing the mount's tree
// through wrap (nil: as it is).
func newSyncedTree(t *testing.T, rem remote.Remote, cfg journal.Config, wrap func(*FS) journal.Tree) (*FS, *journal.Uploader) {
	t.Helper()
	store, err := cache.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	j := journal.Open(store)
	fs, err := New(Config{Store: store, Journal: j, MaxPathLen: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	if cfg.Transfers == 0 {
		cfg.Transfers = 4
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	cfg.Tree = fs
	if wrap != nil {
		cfg.Tree = wrap(fs)
	}
	up, err := journal.NewUploader(store, j, rem, fs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	fs.SetFetcher(up)
	return fs, up
}

// flushAll waits, at most 10 s, until every change made so far is on the
// remote, and fails t if any failed.
func flushAll(t *testing.T, up *journal.Uploader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if failed, err := up.Flush(ctx); err != nil || len(failed) > 0 {
		t.Fatalf("flush: %v %v", failed, err)
	}
}

// flushing starts a flush of everything made so far, at most 10 s, and
// returns a channel closed when it returns: the test holds an upload on
// its way meanwhile. A flush that fails fails the test; one the test's
// end cuts short (it failed already) does not.
func flushing(t *testing.T, up *journal.Uploader) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := up.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("background flush: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return done
}

// putTheirs writes content at p on l as another device, and returns the
// entry.
func putTheirs(t *testing.T, l *local.Local, p, content string, cond remote.Cond) remote.Entry {
	t.Helper()
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	e, err := l.Put(context.Background(), p, strings.NewReader(content), int64(len(content)), meta, cond)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// moveTheirs moves version v of p to q on l as another device, where
// nothing is at q, and returns the change its log lists.
func moveTheirs(t *testing.T, l *local.Local, p, q, v string) journal.Change {
	t.Helper()
	ctx := context.Background()
	if err := l.RenameIf(ctx, p, q, v, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	moved, err := l.Stat(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	mv := change("move", moved)
	mv.Path, mv.To, mv.Was = p, q, v
	return mv
}

// logTheirs writes a change-log object of another device (devA) on l,
// listing changes, as its uploader does after a batch.
func logTheirs(t *testing.T, l *local.Local, changes ...journal.Change) {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"device": "devA", "changes": changes})
	name := fmt.Sprintf("log/%020d-%s-%010d.json", time.Now().UnixNano(), "a1", 1)
	if err := l.PutArea(context.Background(), name, data); err != nil {
		t.Fatal(err)
	}
}

// pollTheirs logs changes as another device (logTheirs) and has up poll
// them.
func pollTheirs(t *testing.T, l *local.Local, up *journal.Uploader, changes ...journal.Change) {
	t.Helper()
	logTheirs(t, l, changes...)
	if err := up.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// newLocal is a folder remote on a fresh directory, and that directory.
func newLocal(t *testing.T) (*local.Local, string) {
	t.Helper()
	root := t.TempDir()
	l, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return l, root
}

// absent reports whether node id is marked as having its content only on
// the remote.
func absent(t *testing.T, fs *FS, id uint64) bool {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		t.Fatal(err)
	}
	return n.Absent
}

// gate stalls the first call at path once armed (entered and release
// set), until release is closed: a remote that is slow or down for a
// moment, at the worst time.
type gate struct {
	mu      sync.Mutex
	path    string
	entered chan struct{}
	release chan struct{}
}

// arm makes the gate stall the next call at p, and returns the channel
// closed once a call is stalled and the one to close to let it go.
func (g *gate) arm(p string) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	g.mu.Lock()
	g.path, g.entered, g.release = p, entered, release
	g.mu.Unlock()
	return entered, release
}

// wait stalls the first call at the armed path and reports whether it did.
func (g *gate) wait(p string) bool {
	g.mu.Lock()
	var w chan struct{}
	if g.entered != nil && p == g.path {
		close(g.entered)
		g.entered = nil
		w = g.release
	}
	g.mu.Unlock()
	if w != nil {
		<-w
	}
	return w != nil
}

// readAt fails t unless the mount shows p, and reads want from it.
func readAt(t *testing.T, fs *FS, l *local.Local, p, want string) {
	t.Helper()
	id, _, ok := fs.NodeAt(p)
	if !ok {
		_, err := l.Stat(context.Background(), p)
		t.Fatalf("%s does not show (on the remote: %v)", p, err)
	}
	fh, err := fs.Open(id, 0)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer fs.Release(fh)
	buf := make([]byte, 100)
	n, err := fs.Read(fh, buf, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("read %s: %v", p, err)
	}
	if string(buf[:n]) != want {
		t.Errorf("%s holds %q, want %q", p, buf[:n], want)
	}
}

// writeAndClose writes data at the start of the open file fh, and closes
// it.
func writeAndClose(t *testing.T, fs *FS, fh uint64, data string) {
	t.Helper()
	if _, err := fs.Write(fh, []byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if err := fs.Flush(fh); err != nil {
		t.Fatal(err)
	}
	fs.Release(fh)
}

// unwatched is a folder remote whose changes a mount learns of only when
// it polls: its Watch, which does not fit remote.Watcher, hides the
// folder's. A test that changes the folder as another device, and has the
// mount poll at a chosen moment, needs it: the folder's watcher would
// apply the change at a moment of its own.
type unwatched struct{ *local.Local }

func (unwatched) Watch() {}

// newPolling is newSynced with the change log polled only when a test
// asks (PollOnce, pollTheirs), besides the first poll at once.
func newPolling(t *testing.T, rem remote.Remote, cfg journal.Config) (*FS, *journal.Uploader) {
	t.Helper()
	fs, up := newSynced(t, rem, cfg)
	up.StartPolling(journal.PollConfig{Interval: time.Hour})
	return fs, up
}

// renameHere renames from to to in the root of the mount fs, as a program
// does, and fails t if it cannot.
func renameHere(t *testing.T, fs *FS, from, to string) {
	t.Helper()
	if err := fs.Rename(cache.RootID, from, cache.RootID, to, 0); err != nil {
		t.Fatal(err)
	}
}
