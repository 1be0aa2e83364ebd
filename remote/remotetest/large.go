package remotetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/ferry-fs/ferry/remote"
)

// randomBytes returns n bytes that differ in every part of an upload, so
// that parts put in the wrong place are caught.
func randomBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	rnd := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	rnd.Read(b)
	return b
}

// wantBytes checks that the file at p holds exactly want, comparing digests
// so that a failure does not print megabytes.
func wantBytes(t *testing.T, r remote.Remote, p string, want []byte) {
	t.Helper()
	rc, err := r.Get(t.Context(), p, 0, -1, "")
	if err != nil {
		t.Fatalf("Get(%q): %v", p, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", p, err)
	}
	if sum := sha256.Sum256(want); n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("content of %q: %d bytes that differ from the %d stored", p, n, len(want))
	}
	if e := stat(t, r, p); e.Size != int64(len(want)) {
		t.Fatalf("Stat(%q).Size = %d, want %d", p, e.Size, len(want))
	}
}

func putBytes(t *testing.T, r remote.Remote, p string, b []byte, cond remote.Cond) (remote.Entry, error) {
	t.Helper()
	return r.Put(t.Context(), p, bytes.NewReader(b), int64(len(b)), meta(string(b[:16])), cond)
}

// testLargeFile puts, reads, copies and conditionally replaces files of
// several parts (Options.PartSize), the multipart path of S3.
func testLargeFile(t *testing.T, r remote.Remote, opts Options) {
	ctx := t.Context()
	ps := opts.PartSize
	const p = "large/file"
	data := randomBytes(2*ps+ps/2, 1)
	e1, err := putBytes(t, r, p, data, remote.Cond{})
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(data), err)
	}
	wantBytes(t, r, p, data)
	wantMeta(t, "Stat of a large file", stat(t, r, p), meta(string(data[:16])))
	// A range across the boundary of the first two parts.
	if got := get(t, r, p, ps-10, 20); got != string(data[ps-10:ps+10]) {
		t.Errorf("Get across a part boundary returned other bytes")
	}

	// A failing reader, or a cancelled context, leaves the old content.
	other := randomBytes(2*ps+ps/2, 2)
	fr := &failingReader{data: other[:ps+ps/2], err: errBoom}
	if _, err := r.Put(ctx, p, fr, int64(len(other)), meta("x"), remote.Cond{}); err == nil {
		t.Fatal("Put of a large file with a failing reader succeeded")
	}
	wantBytes(t, r, p, data)
	cctx, cancel := context.WithCancel(ctx)
	cr := &cancelAt{r: bytes.NewReader(other), at: ps + ps/2, cancel: cancel}
	if _, err := r.Put(cctx, p, cr, int64(len(other)), meta("x"), remote.Cond{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put of a large file cancelled halfway: err = %v, want context.Canceled", err)
	}
	wantBytes(t, r, p, data)
	wantNames(t, "large", list(t, r, "large"), p)

	// Conditions hold for large files too.
	_, err = putBytes(t, r, p, other, remote.Cond{IfNoneMatch: true})
	wantErrIs(t, err, remote.ErrPrecondition, "large Put IfNoneMatch over an existing file")
	_, err = putBytes(t, r, p, other, remote.Cond{IfMatch: "not-" + e1.Version})
	wantErrIs(t, err, remote.ErrPrecondition, "large Put IfMatch a stale version")
	wantBytes(t, r, p, data)
	e2, err := putBytes(t, r, p, other, remote.Cond{IfMatch: e1.Version})
	if err != nil {
		t.Fatalf("large Put IfMatch the current version: %v", err)
	}
	wantBytes(t, r, p, other)
	if s := stat(t, r, p); s.Version != e2.Version || e2.Version == e1.Version {
		t.Errorf("versions: first %q, second %q, Stat %q", e1.Version, e2.Version, s.Version)
	}

	if _, err := r.Copy(ctx, p, "large/copy"); err != nil {
		t.Fatalf("Copy of a large file: %v", err)
	}
	wantBytes(t, r, "large/copy", other)
	if err := r.Rename(ctx, "large/copy", "large/moved"); err != nil {
		t.Fatalf("Rename of a large file: %v", err)
	}
	wantBytes(t, r, "large/moved", other)
	wantMissing(t, r, "large/copy")
}

// cancelAt reads from r and cancels a context once at bytes were read.
type cancelAt struct {
	r      io.Reader
	at, n  int64
	cancel context.CancelFunc
}

func (c *cancelAt) Read(b []byte) (int, error) {
	if c.n >= c.at {
		c.cancel()
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// countingReaderAt counts the bytes read from it.
type countingReaderAt struct {
	b    []byte
	read atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(c.b).ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

// interrupted starts a resumable upload of data to p and cancels it once
// parts parts are done. It returns the last state saved, after a round trip
// through JSON like a journal would make.
func interrupted(t *testing.T, rr remote.Resumable, p string, data []byte, parts int) remote.UploadState {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last *remote.UploadState
	save := func(st remote.UploadState) error {
		b, err := json.Marshal(st)
		if err != nil {
			t.Errorf("upload state does not marshal: %v", err)
		}
		var back remote.UploadState
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("upload state does not unmarshal: %v", err)
		}
		last = &back
		if len(st.Parts) >= parts {
			cancel()
		}
		return nil
	}
	src := &countingReaderAt{b: data}
	_, err := rr.PutResumable(ctx, p, src, int64(len(data)), meta(string(data[:16])), remote.Cond{}, nil, save)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PutResumable cancelled after %d parts: err = %v, want context.Canceled", parts, err)
	}
	if last == nil || len(last.Parts) < parts || last.UploadID == "" {
		t.Fatalf("PutResumable saved %+v before it was cancelled, want %d parts", last, parts)
	}
	return *last
}

// resume continues an upload from st and returns how many bytes it read.
func resume(t *testing.T, rr remote.Resumable, p string, data []byte, st remote.UploadState) int64 {
	t.Helper()
	src := &countingReaderAt{b: data}
	e, err := rr.PutResumable(t.Context(), p, src, int64(len(data)), meta(string(data[:16])), remote.Cond{}, &st,
		func(remote.UploadState) error { return nil })
	if err != nil {
		t.Fatalf("PutResumable resumed from %d parts: %v", len(st.Parts), err)
	}
	if e.Path != p || e.Size != int64(len(data)) || e.Version == "" {
		t.Fatalf("PutResumable = %+v, want path %q, size %d and a version", e, p, len(data))
	}
	return src.read.Load()
}

// testResumable interrupts multipart uploads and resumes them from the
// state saved, from a state whose upload was aborted, and after a cleanup.
func testResumable(t *testing.T, r remote.Remote, opts Options) {
	rr, ok := r.(remote.Resumable)
	if !ok {
		t.Fatalf("Options.Resumable is set but %T does not implement remote.Resumable", r)
	}
	ctx := t.Context()
	ps := opts.PartSize
	data := randomBytes(4*ps+ps/2, 3)
	size := int64(len(data))

	const p = "resume/file"
	st := interrupted(t, rr, p, data, 2)
	wantMissing(t, r, p)
	var saved int64
	for _, part := range st.Parts {
		saved += part.Size
	}
	if read := resume(t, rr, p, data, st); read > size-saved || saved == 0 {
		t.Errorf("resuming after %d of 5 parts (%d bytes) read %d of %d bytes: parts were uploaded again",
			len(st.Parts), saved, read, size)
	}
	wantBytes(t, r, p, data)
	wantMeta(t, "Stat after a resumed upload", stat(t, r, p), meta(string(data[:16])))

	// An upload aborted meanwhile starts over from its stale state.
	const q = "resume/aborted"
	st = interrupted(t, rr, q, data, 1)
	for range 2 { // idempotent
		if err := rr.AbortUpload(ctx, q, st.UploadID); err != nil {
			t.Fatalf("AbortUpload: %v", err)
		}
	}
	if read := resume(t, rr, q, data, st); read != size {
		t.Errorf("resuming an aborted upload read %d bytes, want all %d", read, size)
	}
	wantBytes(t, r, q, data)

	if c, ok := r.(remote.UploadCleaner); ok {
		const c1 = "resume/cleaned"
		st = interrupted(t, rr, c1, data, 1)
		n, err := c.CleanupUploads(ctx, 0)
		if err != nil || n < 1 {
			t.Fatalf("CleanupUploads = %d, %v; want at least the interrupted upload", n, err)
		}
		resume(t, rr, c1, data, st)
		wantBytes(t, r, c1, data)
	}

	// Conditions are checked when the upload completes.
	src := &countingReaderAt{b: data}
	nop := func(remote.UploadState) error { return nil }
	_, err := rr.PutResumable(ctx, p, src, size, meta("x"), remote.Cond{IfNoneMatch: true}, nil, nop)
	wantErrIs(t, err, remote.ErrPrecondition, "PutResumable IfNoneMatch over an existing file")
	_, err = rr.PutResumable(ctx, p, src, size, meta("x"), remote.Cond{IfMatch: "stale"}, nil, nop)
	wantErrIs(t, err, remote.ErrPrecondition, "PutResumable IfMatch a stale version")
	wantBytes(t, r, p, data)
}
