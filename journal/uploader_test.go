package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// fakeSource is an in-memory filesystem state for the uploader.
type fakeSource struct {
	mu    sync.Mutex
	files map[uint64][]byte
	gen   map[uint64]int
}

func newFakeSource() *fakeSource {
	return &fakeSource{files: map[uint64][]byte{}, gen: map[uint64]int{}}
}

func (s *fakeSource) set(id uint64, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[id] = []byte(data)
	s.gen[id]++
}

func (s *fakeSource) OpenContent(id uint64) (*Content, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.files[id]
	if !ok {
		return nil, ErrGone
	}
	gen := s.gen[id]
	return &Content{R: bytes.NewReader(data), Size: int64(len(data)), Meta: remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644},
		Changed: func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.gen[id] != gen },
		Close:   func() error { return nil }}, nil
}

func (s *fakeSource) NodeMeta(id uint64) (remote.Meta, error) {
	return remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o755}, nil
}

// failing wraps a remote and fails puts of chosen paths.
type failing struct {
	remote.Remote
	mu        sync.Mutex
	transient map[string]int // path -> failures left
	permanent map[string]bool
	landed    map[string]int // path -> puts that land but report a lost connection
	puts      map[string]int
}

func (f *failing) Put(ctx context.Context, p string, r io.Reader, size int64, m remote.Meta, c remote.Cond) (remote.Entry, error) {
	f.mu.Lock()
	f.puts[p]++
	if f.permanent[p] {
		f.mu.Unlock()
		return remote.Entry{}, fmt.Errorf("%w: access denied", remote.ErrPermanent)
	}
	if f.transient[p] > 0 {
		f.transient[p]--
		f.mu.Unlock()
		return remote.Entry{}, errors.New("connection refused")
	}
	lose := f.landed[p] > 0
	if lose {
		f.landed[p]--
	}
	f.mu.Unlock()
	e, err := f.Remote.Put(ctx, p, r, size, m, c)
	if err == nil && lose {
		return remote.Entry{}, errors.New("connection reset by peer")
	}
	return e, err
}

type testRig struct {
	store *cache.Store
	j     *Journal
	src   *fakeSource
	rem   *failing
	root  string
	up    *Uploader
}

func newRig(t *testing.T) *testRig {
	t.Helper()
	store, err := cache.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root := t.TempDir()
	l, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	rig := &testRig{store: store, j: Open(store), src: newFakeSource(), root: root,
		rem: &failing{Remote: l, transient: map[string]int{}, permanent: map[string]bool{}, landed: map[string]int{}, puts: map[string]int{}}}
	return rig
}

func (r *testRig) start(t *testing.T) {
	t.Helper()
	up, err := NewUploader(r.store, r.j, r.rem, r.src, Config{Transfers: 4, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.up = up
	t.Cleanup(up.Close)
}

// record commits ops as the filesystem would.
func (r *testRig) record(t *testing.T, ops ...*Op) {
	t.Helper()
	b := new(cache.Batch)
	for _, op := range ops {
		r.j.Add(b, op)
	}
	if err := r.store.Commit(b); err != nil {
		t.Fatal(err)
	}
	r.j.Publish(ops...)
}

func (r *testRig) flush(t *testing.T) []*Op {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	failed, err := r.up.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return failed
}

func readRemote(t *testing.T, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatalf("remote %s: %v", p, err)
	}
	return string(b)
}

func TestUploaderReplaysInOrder(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(3, "hello")
	r.record(t,
		&Op{Kind: Mkdir, Node: 2, Dir: true, Path: "d"},
		&Op{Kind: Create, Node: 3, Path: "d/f"},
		&Op{Kind: Write, Node: 3, Path: "d/f", Size: 5},
		&Op{Kind: Rename, Node: 2, Dir: true, Path: "d", Path2: "e"},
	)
	if failed := r.flush(t); len(failed) > 0 {
		t.Fatalf("failed ops: %+v", failed)
	}
	if got := readRemote(t, r.root, "e/f"); got != "hello" {
		t.Fatalf("e/f = %q", got)
	}
	if _, err := os.Stat(filepath.Join(r.root, "d")); !os.IsNotExist(err) {
		t.Fatalf("d should be gone from the remote: %v", err)
	}
	ops, err := List(r.store, Filter{State: Pending})
	if err != nil || len(ops) != 0 {
		t.Fatalf("pending after flush: %v %v", ops, err)
	}
}

func TestUploaderRetriesTransientAndIsolatesPermanent(t *testing.T) {
	r := newRig(t)
	r.rem.transient["flaky"] = 2
	r.rem.permanent["denied"] = true
	r.start(t)
	for id, p := range map[uint64]string{1: "flaky", 2: "denied", 3: "fine"} {
		r.src.set(id, p)
		r.record(t, &Op{Kind: Create, Node: id, Path: p})
	}
	failed := r.flush(t)
	if len(failed) != 1 || failed[0].Path != "denied" || failed[0].State != Failed || failed[0].Error == "" {
		t.Fatalf("want only 'denied' failed with its error, got %+v", failed)
	}
	if got := readRemote(t, r.root, "flaky"); got != "flaky" {
		t.Fatalf("flaky = %q", got)
	}
	if got := readRemote(t, r.root, "fine"); got != "fine" {
		t.Fatalf("fine = %q", got)
	}
	if r.rem.puts["flaky"] != 3 {
		t.Fatalf("flaky put %d times, want 3 (two failures, one success)", r.rem.puts["flaky"])
	}
}

func TestUploaderSkipsUnchangedContent(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "same")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	r.record(t, &Op{Kind: Setattr, Node: 1, Path: "a"})
	r.flush(t)
	if r.rem.puts["a"] != 1 {
		t.Fatalf("unchanged content uploaded %d times", r.rem.puts["a"])
	}
	r.src.set(1, "changed")
	r.record(t, &Op{Kind: Write, Node: 1, Path: "a"})
	r.flush(t)
	if got := readRemote(t, r.root, "a"); got != "changed" || r.rem.puts["a"] != 2 {
		t.Fatalf("a = %q after %d puts", got, r.rem.puts["a"])
	}
}

func TestUploaderResumesAfterRestart(t *testing.T) {
	r := newRig(t)
	r.src.set(1, "queued")
	// No uploader running: ops are only in the journal.
	r.record(t, &Op{Kind: Create, Node: 1, Path: "q"})
	r.start(t)
	r.flush(t)
	if got := readRemote(t, r.root, "q"); got != "queued" {
		t.Fatalf("q = %q", got)
	}
}

func TestUploaderWriteBackDelay(t *testing.T) {
	r := newRig(t)
	up, err := NewUploader(r.store, r.j, r.rem, r.src, Config{Transfers: 2, WriteBack: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	r.up = up
	r.src.set(1, "later")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "w"})
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(r.root, "w")); !os.IsNotExist(err) {
		t.Fatalf("uploaded before the write-back delay: %v", err)
	}
	r.flush(t) // flush skips the delay
	if got := readRemote(t, r.root, "w"); got != "later" {
		t.Fatalf("w = %q", got)
	}
}

func TestUploaderNeverOverwritesAConcurrentRemoteChange(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "mine v1")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	// Someone else changes the remote file, then we change ours.
	if err := os.WriteFile(filepath.Join(r.root, "a"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.set(1, "mine v2")
	r.record(t, &Op{Kind: Write, Node: 1, Path: "a"})
	failed := r.flush(t)
	if len(failed) != 1 || failed[0].State != Conflict {
		t.Fatalf("want one conflict, got %+v", failed)
	}
	if got := readRemote(t, r.root, "a"); got != "theirs" {
		t.Fatalf("remote overwritten: %q", got)
	}

	// A new file whose name someone else took on the remote meanwhile.
	os.WriteFile(filepath.Join(r.root, "b"), []byte("theirs too"), 0o644)
	r.src.set(2, "mine")
	r.record(t, &Op{Kind: Create, Node: 2, Path: "b"})
	failed = r.flush(t)
	if len(failed) != 2 || readRemote(t, r.root, "b") != "theirs too" {
		t.Fatalf("new file over a remote one: failed=%+v remote=%q", failed, readRemote(t, r.root, "b"))
	}
}

func TestUploaderMetadataOnlyKeepsVersionCurrent(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "same")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	r.record(t, &Op{Kind: Setattr, Node: 1, Path: "a"}) // metadata only: a new version on the local backend
	r.flush(t)
	r.src.set(1, "changed")
	r.record(t, &Op{Kind: Write, Node: 1, Path: "a"})
	if failed := r.flush(t); len(failed) != 0 {
		t.Fatalf("our own metadata update looked like a conflict: %+v", failed)
	}
	if got := readRemote(t, r.root, "a"); got != "changed" {
		t.Fatalf("a = %q", got)
	}
}

func TestUploaderDeleteKeepsAConcurrentRemoteChange(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "mine")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	os.WriteFile(filepath.Join(r.root, "a"), []byte("theirs, newer"), 0o644)
	delete(r.src.files, 1)
	r.record(t, &Op{Kind: Unlink, Node: 1, Path: "a"})
	failed := r.flush(t)
	if len(failed) != 1 || failed[0].State != Conflict {
		t.Fatalf("want a conflict, got %+v", failed)
	}
	if got := readRemote(t, r.root, "a"); got != "theirs, newer" {
		t.Fatalf("a changed remote file was deleted: %q", got)
	}
}

// A put that lands but whose answer is lost (or whose record is lost in a
// crash) must not turn into a conflict with ferry's own upload.
func TestUploaderOwnLandedUploadIsNoConflict(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "v1")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	r.rem.landed["a"] = 1
	r.src.set(1, "v2")
	r.record(t, &Op{Kind: Write, Node: 1, Path: "a"})
	if failed := r.flush(t); len(failed) != 0 {
		t.Fatalf("ferry's own landed upload reported as %+v", failed)
	}
	if got := readRemote(t, r.root, "a"); got != "v2" {
		t.Fatalf("a = %q", got)
	}
	// And the next edit still goes through, conditionally.
	r.src.set(1, "v3")
	r.record(t, &Op{Kind: Write, Node: 1, Path: "a"})
	if failed := r.flush(t); len(failed) != 0 || readRemote(t, r.root, "a") != "v3" {
		t.Fatalf("after adoption: %+v %q", failed, readRemote(t, r.root, "a"))
	}
}

func TestUploaderMetadataChangeDoesNotAdoptSomeoneElsesVersion(t *testing.T) {
	for _, kind := range []Kind{Setattr, Rename} {
		t.Run(string(kind), func(t *testing.T) {
			r := newRig(t)
			r.start(t)
			r.src.set(1, "mine")
			r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
			r.flush(t)
			os.WriteFile(filepath.Join(r.root, "a"), []byte("theirs"), 0o644)
			op := &Op{Kind: kind, Node: 1, Path: "a"}
			if kind == Rename {
				op.Path2 = "b"
			}
			r.record(t, op)
			if failed := r.flush(t); len(failed) != 1 || failed[0].State != Conflict {
				t.Fatalf("want a conflict, got %+v", failed)
			}
			if got := readRemote(t, r.root, "a"); got != "theirs" {
				t.Fatalf("their file was touched: %q", got)
			}
		})
	}
}

func (f *failing) SetMetaIf(ctx context.Context, p string, m remote.Meta, v string) error {
	return f.Remote.(remote.Conditional).SetMetaIf(ctx, p, m, v)
}

func (f *failing) RenameIf(ctx context.Context, from, to, v string, dst remote.Cond) error {
	return f.Remote.(remote.Conditional).RenameIf(ctx, from, to, v, dst)
}

func TestUploaderDeleteAfterOwnUnrecordedUpload(t *testing.T) {
	r := newRig(t)
	r.start(t)
	r.src.set(1, "v1")
	r.record(t, &Op{Kind: Create, Node: 1, Path: "a"})
	r.flush(t)
	// As if a crash hit between an upload of v2 landing and its record:
	// the record has v1's version and v2's hash as pending.
	r.src.set(1, "v2")
	c, _ := r.src.OpenContent(1)
	hash, _ := r.up.hashContent(c)
	up, _ := r.up.loadUploaded(1)
	up.Pending = hash
	r.up.saveUploaded(1, &up)
	if _, err := r.rem.Remote.Put(context.Background(), "a", strings.NewReader("v2"), 2,
		remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644, Hash: hash}, remote.Cond{}); err != nil {
		t.Fatal(err)
	}
	delete(r.src.files, 1)
	r.record(t, &Op{Kind: Unlink, Node: 1, Path: "a"})
	if failed := r.flush(t); len(failed) != 0 {
		t.Fatalf("deleting after ferry's own landed upload: %+v", failed)
	}
	if _, err := os.Stat(filepath.Join(r.root, "a")); !os.IsNotExist(err) {
		t.Fatalf("a still on the remote: %v", err)
	}
}
