package vfs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// slowRemote serves one file's content; the stream from offset 0 sends
// its first 256 KiB, then waits for gate. Ranged fetches further in are
// served at once.
type slowRemote struct {
	data []byte
	gate chan struct{}

	mu    sync.Mutex
	calls []int64 // offsets asked for
}

func (*slowRemote) Gone(uint64) {}

func (s *slowRemote) Fetch(ctx context.Context, id uint64, dst *os.File) error {
	_, err := dst.Write(s.data)
	return err
}

func (s *slowRemote) FetchRange(ctx context.Context, id uint64, off, length int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.calls = append(s.calls, off)
	s.mu.Unlock()
	end := int64(len(s.data))
	if length >= 0 {
		end = min(end, off+length)
	}
	if off > 0 {
		return io.NopCloser(bytes.NewReader(s.data[off:end])), nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write(s.data[:streamChunk])
		select {
		case <-s.gate:
			pw.Write(s.data[streamChunk:end])
			pw.Close()
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
		}
	}()
	return pr, nil
}

func TestStreamingRead(t *testing.T) {
	r, sr, id := streamRig(t, streamLinger)
	data := sr.data
	fh, err := r.fs.Open(id, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	read := func(off int64, n int) {
		t.Helper()
		buf := make([]byte, n)
		done := make(chan error, 1)
		go func() {
			got, err := r.fs.Read(fh, buf, off)
			if err == nil && !bytes.Equal(buf[:got], data[off:off+int64(n)]) {
				err = io.ErrUnexpectedEOF
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read %d bytes at %d: %v", n, off, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d bytes at %d waits for the whole download", n, off)
		}
	}
	read(0, 4096)        // the start arrived: served while the rest is still coming
	read(8<<20, 128<<10) // far ahead of the stream: fetched on its own
	sr.mu.Lock()
	calls := append([]int64(nil), sr.calls...)
	sr.mu.Unlock()
	if len(calls) != 2 || calls[0] != 0 || calls[1] != 8<<20 {
		t.Fatalf("fetches at offsets %v, want the stream at 0 and one ranged fetch at %d", calls, 8<<20)
	}
	close(sr.gate)
	read(5<<20, 1<<20)
	r.fs.Release(fh)
	// Once the stream is done the content is cached: no more fetches.
	waitCached(t, r, sr, id)
	sr.mu.Lock()
	before := len(sr.calls)
	sr.mu.Unlock()
	if got := r.readFile(t, id); got != string(data[:1<<16]) {
		t.Fatal("reading the cached content gives other bytes")
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if len(sr.calls) != before {
		t.Fatalf("fetches at %v after the stream ended, want no more", sr.calls[before:])
	}
}

// streamRig is a mount of one remote file, big, whose content only
// slowRemote serves: the stream from offset 0 stalls after its first
// chunk until gate closes.
func streamRig(t *testing.T, linger time.Duration) (*rig, *slowRemote, uint64) {
	t.Helper()
	data := make([]byte, 10<<20)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "big"), data, 0o644)
	rem, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, t.TempDir())
	r.fs.streamLinger = linger
	if _, err := r.fs.Import(context.Background(), rem, func(uint64, remote.Entry) {}); err != nil {
		t.Fatal(err)
	}
	sr := &slowRemote{data: data, gate: make(chan struct{})}
	r.fs.SetFetcher(sr)
	a, err := r.fs.Lookup(cache.RootID, "big")
	if err != nil {
		t.Fatal(err)
	}
	return r, sr, a.Ino
}

// openRead opens id and reads its first 4 KiB through the stream.
func openRead(t *testing.T, r *rig, sr *slowRemote, id uint64) uint64 {
	t.Helper()
	fh, err := r.fs.Open(id, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, err := r.fs.Read(fh, buf, 0); err != nil || !bytes.Equal(buf[:n], sr.data[:4096]) {
		t.Fatalf("read %d bytes, %v; want the file's first 4096", n, err)
	}
	return fh
}

func (s *slowRemote) streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, off := range s.calls {
		if off == 0 {
			n++
		}
	}
	return n
}

// waitCached waits until id's content is cached and checks it.
func waitCached(t *testing.T, r *rig, sr *slowRemote, id uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r.fs.mu.Lock()
		absent := r.fs.nodes[id].Absent
		r.fs.mu.Unlock()
		if !absent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the content never became cached")
		}
	}
	if got, err := os.ReadFile(r.fs.store.ContentPath(id)); err != nil || !bytes.Equal(got, sr.data) {
		t.Fatalf("cached content (%d bytes, %v) differs from the remote's", len(got), err)
	}
}

// TestStreamStopsWhenNobodyReads: a program that opens a large remote file,
// reads its first bytes and closes it does not pull the rest: once nobody
// has read it for the linger, the download stops and its partial file
// goes, and that is no download failure. The next open streams again.
func TestStreamStopsWhenNobodyReads(t *testing.T) {
	r, sr, id := streamRig(t, 20*time.Millisecond)
	r.fs.Release(openRead(t, r, sr, id))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r.fs.mu.Lock()
		n := r.fs.nodes[id]
		running, absent := n.fetching != nil, n.Absent
		r.fs.mu.Unlock()
		if !running {
			if !absent {
				t.Fatal("the whole file was downloaded after its only reader closed it")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the download goes on with nobody reading the file")
		}
	}
	if parts, _ := filepath.Glob(r.fs.store.ContentPath(id) + ".part-*"); len(parts) > 0 {
		t.Errorf("partial files left behind: %q", parts)
	}
	if msg, _ := r.fs.FetchError(); msg != "" {
		t.Errorf("a stopped download reported as a failure: %q", msg)
	}
	fh := openRead(t, r, sr, id)
	close(sr.gate)
	waitCached(t, r, sr, id)
	r.fs.Release(fh)
	if n := sr.streams(); n != 2 {
		t.Errorf("%d streams from offset 0, want 2: the first stopped, the second finished", n)
	}
}

// TestStreamGoesOnWhenOpenedAgain: a file closed and opened again within
// the linger keeps its download.
func TestStreamGoesOnWhenOpenedAgain(t *testing.T) {
	r, sr, id := streamRig(t, time.Hour)
	r.fs.Release(openRead(t, r, sr, id))
	fh := openRead(t, r, sr, id)
	close(sr.gate)
	waitCached(t, r, sr, id)
	r.fs.Release(fh)
	if n := sr.streams(); n != 1 {
		t.Errorf("%d streams from offset 0, want the first to go on", n)
	}
}
