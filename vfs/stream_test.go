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
	if _, err := r.fs.Import(context.Background(), rem, func(uint64, remote.Entry) {}); err != nil {
		t.Fatal(err)
	}
	sr := &slowRemote{data: data, gate: make(chan struct{})}
	r.fs.SetFetcher(sr)
	a, err := r.fs.Lookup(cache.RootID, "big")
	if err != nil {
		t.Fatal(err)
	}
	fh, err := r.fs.Open(a.Ino, syscall.O_RDONLY)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.fs.mu.Lock()
		absent := r.fs.nodes[a.Ino].Absent
		r.fs.mu.Unlock()
		if !absent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the content never became cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sr.mu.Lock()
	before := len(sr.calls)
	sr.mu.Unlock()
	if got, err := os.ReadFile(r.fs.store.ContentPath(a.Ino)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cached content (%d bytes, %v) differs from the remote's", len(got), err)
	}
	if got := r.readFile(t, a.Ino); got != string(data[:1<<16]) {
		t.Fatal("reading the cached content gives other bytes")
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if len(sr.calls) != before {
		t.Fatalf("fetches at %v after the stream ended, want no more", sr.calls[before:])
	}
}
