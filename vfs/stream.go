package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// Reading a file whose content is only on the remote does not wait for
// the whole download. Opening it for reading starts one streaming GET from
// the start, written into the partial content file as it arrives; a read
// returns as soon as its range is there. The stream runs ahead of a
// sequential reader (read-ahead for free). A read far ahead of the stream
// fetches its own range with a ranged GET. When the stream ends, the
// partial file becomes the cached content. Once nobody has read through the
// stream for streamLinger (the last handle closed), the download stops and
// the partial file goes: a program that opened a large file only to read
// its first bytes does not pull all of it.

// RangeFetcher downloads part of the remote copy of a file. The uploader
// implements it, beside Fetcher.
type RangeFetcher interface {
	FetchRange(ctx context.Context, id uint64, off, length int64) (io.ReadCloser, error)
}

const (
	streamChunk = 256 << 10 // bytes written per step of the stream
	jumpGap     = 4 << 20   // a read this far past the stream fetches its own range
	jumpSize    = 1 << 20   // the least a ranged fetch asks for
	// streamLinger: how long a download goes on after its last reader
	// closed, for the program that opens a file again straight away.
	streamLinger = 5 * time.Second
)

// stream is the download of one file's content in progress.
type stream struct {
	f    *os.File // the partial content file
	size int64
	rf   RangeFetcher // fetches ranges read out of order
	ctx  context.Context
	stop context.CancelFunc // ends the download, see release
	// linger: how long the download goes on once nobody reads it.
	linger time.Duration

	mu       sync.Mutex
	cond     *sync.Cond
	have     []span // byte ranges written, sorted, merged
	pos      int64  // where the sequential stream is
	inflight []span // ranged fetches under way
	started  bool   // the remote answered the first request
	done     bool
	err      error
	users    int    // open handles reading through the stream
	gen      uint64 // the node's content generation when the stream began
	idle     *time.Timer
}

// use and release count the handles reading through s, and those waiting
// for its content; the partial file closes when the stream is done and
// nobody reads it, and an unfinished download stops when nobody has used
// it for s.linger. use fails on a download that stopped so.
func (s *stream) use() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.ctx.Err(), context.Canceled) {
		return false
	}
	s.users++
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	return true
}

func (s *stream) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	switch {
	case s.users > 0:
	case s.done:
		s.f.Close()
	case s.idle == nil:
		var t *time.Timer
		t = time.AfterFunc(s.linger, func() {
			s.mu.Lock()
			if s.idle == t && s.users == 0 { // not a timer stopped too late
				s.stop()
			}
			s.mu.Unlock()
		})
		s.idle = t
	}
}

type span struct{ lo, hi int64 }

func (s *stream) covered(lo, hi int64) bool {
	for _, r := range s.have {
		if r.lo <= lo && lo < r.hi {
			lo = r.hi
		}
		if lo >= hi {
			return true
		}
	}
	return lo >= hi
}

func (s *stream) add(lo, hi int64) {
	s.have = append(s.have, span{lo, hi})
	slices.SortFunc(s.have, func(a, b span) int { return int(min(max(a.lo-b.lo, -1), 1)) })
	out := s.have[:1]
	for _, r := range s.have[1:] {
		last := &out[len(out)-1]
		if r.lo <= last.hi {
			last.hi = max(last.hi, r.hi)
		} else {
			out = append(out, r)
		}
	}
	s.have = out
}

// startStream begins streaming n's content if nothing fetches it yet, and
// returns the stream, or nil when whole downloads must do. Callers hold mu.
func (fs *FS) startStream(n *node) *stream {
	if n.stream != nil {
		return n.stream
	}
	rf, ok := fs.fetcher.(RangeFetcher)
	if !ok || n.fetching != nil || n.Size == 0 {
		return nil
	}
	final := fs.store.ContentPath(n.ID)
	if err := os.MkdirAll(path.Dir(final), 0o700); err != nil {
		return nil
	}
	f, err := os.CreateTemp(path.Dir(final), path.Base(final)+".part-*")
	if err != nil {
		return nil
	}
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Minute)
	s := &stream{f: f, size: n.Size, gen: n.gen, rf: rf, ctx: ctx, stop: stop, linger: fs.streamLinger}
	s.cond = sync.NewCond(&s.mu)
	n.stream = s
	ch := make(chan struct{})
	n.fetching = ch
	go fs.runStream(rf, n, n.ID, s, ch)
	return s
}

// runStream fetches the whole content in order, then makes it the cached
// content of n, node id. Outside mu it reads id, never n.ID: n.Node is
// rewritten whole under mu.
func (fs *FS) runStream(rf RangeFetcher, n *node, id uint64, s *stream, ch chan struct{}) {
	defer s.stop()
	err := s.fill(s.ctx, rf, id, 0, s.size, true)
	stopped := errors.Is(s.ctx.Err(), context.Canceled)
	fs.mu.Lock()
	if n.stream == s {
		n.stream, n.fetching = nil, nil
	}
	close(ch)
	// Only a node still waiting for exactly this content gets it: the
	// remote may have changed meanwhile, or the file been truncated or
	// written here, or removed. Its readers finish with the partial file.
	keep := err == nil && n.gen == s.gen && !n.unlinked && n.Absent
	if keep {
		err = fs.keepDownload(n, s.f.Name())
	}
	fs.mu.Unlock()
	if !keep || err != nil {
		os.Remove(s.f.Name())
	}
	if errors.Is(err, remote.ErrNotFound) {
		// Out of the tree before anyone waiting hears: an open that
		// fails now (ESTALE) finds the name gone when the kernel looks
		// again.
		fs.log.Info("a file was deleted on the remote before it was downloaded", "node", id)
		fs.removeGone(id)
	}
	s.mu.Lock()
	s.done, s.err = true, err
	if s.users == 0 {
		s.f.Close()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	switch {
	case stopped:
		fs.log.Debug("download stopped: nobody reads the file any more", "node", id)
	case errors.Is(err, remote.ErrNotFound):
	case errors.Is(err, remote.ErrPrecondition):
		fs.log.Info("a file changed on the remote before it was downloaded; reading the new version", "node", id)
	case err != nil:
		fs.fetchFailed(id, err)
	}
}

// fill fetches [lo, hi) into the partial file, publishing what arrives.
// seq: this is the stream itself, which moves pos.
func (s *stream) fill(ctx context.Context, rf RangeFetcher, id uint64, lo, hi int64, seq bool) error {
	rc, err := rf.FetchRange(ctx, id, lo, hi-lo)
	if err != nil {
		return err
	}
	defer rc.Close()
	if seq {
		s.mu.Lock()
		s.started = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	buf := make([]byte, streamChunk)
	for off := lo; off < hi; {
		if err := ctx.Err(); err != nil {
			return err // a remote whose reads do not watch ctx stops here
		}
		nr, err := io.ReadFull(rc, buf[:min(int64(len(buf)), hi-off)])
		if nr > 0 {
			if _, werr := s.f.WriteAt(buf[:nr], off); werr != nil {
				return werr
			}
			s.mu.Lock()
			s.add(off, off+int64(nr))
			if seq {
				s.pos = off + int64(nr)
			}
			s.cond.Broadcast()
			s.mu.Unlock()
			off += int64(nr)
		}
		if err != nil {
			if off < hi {
				return fmt.Errorf("content ended at %d of %d bytes: %w", off, hi, err)
			}
			break
		}
	}
	return nil
}

// openWait bounds how long an open waits for the remote's first answer;
// after that the reads wait instead.
const openWait = 30 * time.Second

// waitStart waits (at most d) for the remote's answer to the stream's
// first request, and returns its error if there was one.
func (s *stream) waitStart(d time.Duration) error {
	t := time.AfterFunc(d, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.started && !s.done && time.Now().Before(deadline) {
		s.cond.Wait()
	}
	if s.done && !s.started {
		return s.err
	}
	return nil
}

// readAt reads buf at off once it has arrived, fetching it out of order
// when the stream is far behind.
func (s *stream) readAt(fs *FS, id uint64, buf []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, nil
	}
	hi := min(off+int64(len(buf)), s.size)
	s.mu.Lock()
	for !s.covered(off, hi) && !s.done {
		if off > s.pos+jumpGap && !s.fetching(off, hi) {
			r := span{off, min(max(hi, off+jumpSize), s.size)}
			s.inflight = append(s.inflight, r)
			if rf := s.rf; rf != nil {
				go func() {
					ctx, cancel := context.WithTimeout(s.ctx, 5*time.Minute)
					defer cancel()
					if err := s.fill(ctx, rf, id, r.lo, r.hi, false); err != nil {
						fs.log.Warn("ranged download", "node", id, "err", err)
					}
					s.mu.Lock()
					s.inflight = slices.DeleteFunc(s.inflight, func(x span) bool { return x == r })
					s.cond.Broadcast()
					s.mu.Unlock()
				}()
			}
		}
		s.cond.Wait()
	}
	err := s.err
	if !s.covered(off, hi) && err == nil {
		err = errors.New("download ended early")
	}
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errOffline, err)
	}
	return s.f.ReadAt(buf[:hi-off], off)
}

// fetching reports whether a ranged fetch covers [lo, hi). Callers hold s.mu.
func (s *stream) fetching(lo, hi int64) bool {
	for _, r := range s.inflight {
		if r.lo <= lo && hi <= r.hi {
			return true
		}
	}
	return false
}
