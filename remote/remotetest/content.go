package remotetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

func testPutGetStat(t *testing.T, r remote.Remote, _ Options) {
	const p, content = "a/b/file.txt", "hello, ferry\n"
	m := meta(content)
	e := putMeta(t, r, p, content, m)
	wantMeta(t, "Put", e, m)

	s := stat(t, r, p)
	if s.Dir || s.Size != int64(len(content)) || s.Link != "" {
		t.Fatalf("Stat(%q) = %+v, want a %d-byte file", p, s, len(content))
	}
	if s.Version != e.Version {
		t.Errorf("Stat(%q).Version = %q, Put returned %q", p, s.Version, e.Version)
	}
	wantMeta(t, "Stat", s, m)
	wantContent(t, r, p, content)

	l := list(t, r, "a/b")
	wantNames(t, "a/b", l, p)
	wantMeta(t, "List", l[p], m)
	if l[p].Size != int64(len(content)) || l[p].Version != e.Version {
		t.Errorf("List entry %+v, want size %d and version %q", l[p], len(content), e.Version)
	}

	for _, dir := range []string{"", "a", "a/b"} {
		if d := stat(t, r, dir); !d.Dir {
			t.Errorf("Stat(%q) = %+v, want a directory", dir, d)
		}
	}
}

func testRangedGet(t *testing.T, r remote.Remote, _ Options) {
	const p = "ranged"
	var b strings.Builder
	for i := range 1000 {
		b.WriteByte(byte('a' + i%26 + i/26%7))
	}
	content := b.String()
	put(t, r, p, content)
	n := int64(len(content))
	for _, c := range []struct {
		off, length int64
		want        string
	}{
		{0, -1, content},
		{0, n, content},
		{10, 20, content[10:30]},
		{n - 7, -1, content[n-7:]},
		{n - 5, 100, content[n-5:]}, // length past the end stops at the end
		{n - 1, 1, content[n-1:]},
		{n, -1, ""},
		{n, 10, ""},
		{3, 0, ""},
	} {
		if got := get(t, r, p, c.off, c.length); got != c.want {
			t.Errorf("Get(%q, %d, %d) = %q, want %q", p, c.off, c.length, clip(got), clip(c.want))
		}
	}
}

func testOverwrite(t *testing.T, r remote.Remote, _ Options) {
	const p = "over/write"
	long := strings.Repeat("old content ", 100)
	e1 := put(t, r, p, long)
	e2 := put(t, r, p, "new")
	wantContent(t, r, p, "new")
	if e1.Version == e2.Version {
		t.Errorf("overwrite kept version %q", e1.Version)
	}
	// Idempotent: the same content again still leaves one file.
	put(t, r, p, "new")
	wantNames(t, "over", list(t, r, "over"), p)
	wantContent(t, r, p, "new")
}

func testSetMeta(t *testing.T, r remote.Remote, _ Options) {
	const p, content = "meta/file", "some content"
	put(t, r, p, content)
	m := remote.Meta{ModTime: time.Date(2024, 12, 24, 18, 0, 1, 0, time.UTC), Mode: 0o600, Hash: hashOf(content)}
	if err := r.SetMeta(t.Context(), p, m); err != nil {
		t.Fatalf("SetMeta(%q): %v", p, err)
	}
	wantMeta(t, "Stat after SetMeta", stat(t, r, p), m)
	wantContent(t, r, p, content)
	if err := r.SetMeta(t.Context(), p, m); err != nil {
		t.Fatalf("SetMeta(%q) again: %v", p, err)
	}
	err := r.SetMeta(t.Context(), "meta/missing", m)
	wantErrIs(t, err, remote.ErrNotFound, "SetMeta of a missing file")

	// Directories, with and without the os.ModeDir hint, made with Mkdir
	// or implied by a file below them. The files inside stay.
	put(t, r, "meta/implicit/f", content)
	for i, perm := range []os.FileMode{0o750, 0o705} { // the second Mkdir finds it made
		mm := remote.Meta{ModTime: m.ModTime.Add(time.Duration(i+1) * time.Minute), Mode: perm}
		if err := r.Mkdir(t.Context(), "meta/made", mm); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		wantMeta(t, "Stat after Mkdir with metadata", stat(t, r, "meta/made"), mm)
	}
	for _, d := range []string{"meta/implicit", "meta/made"} {
		for _, hint := range []os.FileMode{0, os.ModeDir} {
			dm := remote.Meta{ModTime: m.ModTime.Add(time.Duration(hint>>20+1) * time.Hour), Mode: 0o700 | hint}
			if err := r.SetMeta(t.Context(), d, dm); err != nil {
				t.Fatalf("SetMeta(%q, %v): %v", d, dm.Mode, err)
			}
			e := stat(t, r, d)
			if !e.Dir {
				t.Fatalf("Stat(%q) after SetMeta = %+v, want a directory", d, e)
			}
			wantMeta(t, "Stat of a directory after SetMeta "+dm.Mode.String(), e, dm)
		}
	}
	wantContent(t, r, "meta/implicit/f", content)
}

var errBoom = errors.New("reader failed on purpose")

func testFailedPutIsAtomic(t *testing.T, r remote.Remote, _ Options) {
	const p, old = "atomic/file", "the old content"
	put(t, r, p, old)
	half := bytes.Repeat([]byte("new!"), 4096)
	fr := &failingReader{data: half, err: errBoom}
	if e, err := r.Put(t.Context(), p, fr, 4*int64(len(half)), meta("x"), remote.Cond{}); err == nil {
		t.Fatalf("Put with a failing reader = %+v, nil; want an error", e)
	}
	wantContent(t, r, p, old)

	fr = &failingReader{data: half, err: errBoom}
	if _, err := r.Put(t.Context(), "atomic/new", fr, 4*int64(len(half)), meta("x"), remote.Cond{}); err == nil {
		t.Fatal("Put of a new file with a failing reader succeeded")
	}
	wantMissing(t, r, "atomic/new")

	// A reader shorter than the announced size is a failure too.
	short := bytes.NewReader([]byte("short"))
	if _, err := r.Put(t.Context(), p, short, 100, meta("x"), remote.Cond{}); err == nil {
		t.Fatal("Put with a reader shorter than size succeeded")
	}
	wantContent(t, r, p, old)
	wantNames(t, "atomic", list(t, r, "atomic"), p)
}

func testCancelled(t *testing.T, r remote.Remote, _ Options) {
	const p, old = "cancel/file", "before"
	put(t, r, p, old)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Put(ctx, "cancel/new", strings.NewReader("x"), 1, meta("x"), remote.Cond{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: err = %v, want context.Canceled", err)
	}
	wantMissing(t, r, "cancel/new")

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	cr := &cancelReader{data: bytes.Repeat([]byte("z"), 1<<16), cancel: cancel}
	if _, err := r.Put(ctx, p, cr, 1<<16, meta("x"), remote.Cond{}); err == nil {
		t.Fatal("Put cancelled halfway succeeded")
	}
	wantContent(t, r, p, old)
}

func testConditionalPut(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	const p = "cond/file"
	// Same length and mtime on purpose: a version must tell them apart.
	e1 := put(t, r, p, "version-1")

	_, err := r.Put(ctx, p, strings.NewReader("version-x"), 9, meta("version-x"), remote.Cond{IfNoneMatch: true})
	wantErrIs(t, err, remote.ErrPrecondition, "Put IfNoneMatch over an existing file")
	wantContent(t, r, p, "version-1")

	e2, err := r.Put(ctx, p, strings.NewReader("version-2"), 9, meta("version-2"), remote.Cond{IfMatch: e1.Version})
	if err != nil {
		t.Fatalf("Put IfMatch the current version: %v", err)
	}
	wantContent(t, r, p, "version-2")
	if e2.Version == e1.Version {
		t.Fatalf("versions of different content are equal: %q", e1.Version)
	}
	if s := stat(t, r, p); s.Version != e2.Version {
		t.Errorf("Stat.Version = %q, Put returned %q", s.Version, e2.Version)
	}

	_, err = r.Put(ctx, p, strings.NewReader("version-3"), 9, meta("version-3"), remote.Cond{IfMatch: e1.Version})
	wantErrIs(t, err, remote.ErrPrecondition, "Put IfMatch a stale version")
	wantContent(t, r, p, "version-2")

	for _, missing := range []string{"cond/missing", "cond/nodir/missing"} {
		_, err = r.Put(ctx, missing, strings.NewReader("x"), 1, meta("x"), remote.Cond{IfMatch: e1.Version})
		wantErrIs(t, err, remote.ErrPrecondition, "Put IfMatch on a missing path")
		wantMissing(t, r, missing)
	}
	wantNames(t, "cond", list(t, r, "cond"), p)

	if _, err := r.Put(ctx, "cond/new", strings.NewReader("new"), 3, meta("new"), remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatalf("Put IfNoneMatch of a new path: %v", err)
	}
	wantContent(t, r, "cond/new", "new")

	// A directory is something there too: on S3 the file's key would
	// stand beside the keys below it, and neither tree could show both.
	put(t, r, "cond/dir/inner", "inner")
	_, err = r.Put(ctx, "cond/dir", strings.NewReader("x"), 1, meta("x"), remote.Cond{IfNoneMatch: true})
	wantErrIs(t, err, remote.ErrPrecondition, "Put IfNoneMatch over a directory")
	wantContent(t, r, "cond/dir/inner", "inner")
	if s := stat(t, r, "cond/dir"); !s.Dir {
		t.Errorf("cond/dir after a refused Put: %+v, want the directory", s)
	}
}

func testConditionalDelete(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	const p = "cond/file"
	e1 := put(t, r, p, "version-1")
	e2 := put(t, r, p, "version-2")

	err := r.Delete(ctx, p, remote.Cond{IfMatch: e1.Version})
	wantErrIs(t, err, remote.ErrPrecondition, "Delete IfMatch a stale version")
	wantContent(t, r, p, "version-2")

	if err := r.Delete(ctx, p, remote.Cond{IfMatch: e2.Version}); err != nil {
		t.Fatalf("Delete IfMatch the current version: %v", err)
	}
	wantMissing(t, r, p)
	// A retry of a delete that succeeded succeeds.
	if err := r.Delete(ctx, p, remote.Cond{IfMatch: e2.Version}); err != nil {
		t.Fatalf("Delete IfMatch of a deleted file: %v", err)
	}
}

func testConcurrentConditionalPut(t *testing.T, r remote.Remote, _ Options) {
	const p, writers = "race/file", 8
	base := put(t, r, p, "writer-base")
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			c := fmt.Sprintf("writer-%04d", i)
			_, errs[i] = r.Put(t.Context(), p, strings.NewReader(c), int64(len(c)), meta(c), remote.Cond{IfMatch: base.Version})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both replaced version %q", winner, i, base.Version)
		case err == nil:
			winner = i
		case !errors.Is(err, remote.ErrPrecondition):
			t.Errorf("writer %d: err = %v, want remote.ErrPrecondition", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no conditional writer succeeded")
	}
	wantContent(t, r, p, fmt.Sprintf("writer-%04d", winner))
}

func testMissing(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	put(t, r, "file", "x")
	for _, p := range []string{"nope", "no/such/dir", "file/child"} {
		wantMissing(t, r, p)
		rc, err := r.Get(ctx, p, 0, -1, "")
		if err == nil {
			rc.Close()
		}
		wantErrIs(t, err, remote.ErrNotFound, fmt.Sprintf("Get(%q)", p))
	}
	for _, dir := range []string{"nope", "no/such/dir"} {
		err := r.List(ctx, dir, func(e remote.Entry) error {
			t.Errorf("List(%q) reported %+v", dir, e)
			return nil
		})
		wantErrIs(t, err, remote.ErrNotFound, fmt.Sprintf("List(%q)", dir))
	}
}

// testConditionalMetaRename: a metadata update or rename pinned to a stale
// version changes nothing; pinned to the current one it works.
func testConditionalMetaRename(t *testing.T, r remote.Remote, _ Options) {
	c := r.(remote.Conditional)
	ctx := t.Context()
	old := put(t, r, "cond/f", "v1")
	cur := put(t, r, "cond/f", "v2")
	m := remote.Meta{ModTime: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC), Mode: 0o600}
	wantErrIs(t, c.SetMetaIf(ctx, "cond/f", m, old.Version), remote.ErrPrecondition, "SetMetaIf with a stale version")
	wantErrIs(t, c.SetMetaIf(ctx, "cond/nope", m, old.Version), remote.ErrPrecondition, "SetMetaIf of a missing file")
	if got := stat(t, r, "cond/f"); got.ModTime.Equal(m.ModTime) {
		t.Fatal("SetMetaIf with a stale version changed the mtime")
	}
	wantErrIs(t, c.RenameIf(ctx, "cond/f", "cond/g", old.Version, remote.Cond{}), remote.ErrPrecondition, "RenameIf with a stale version")
	wantContent(t, r, "cond/f", "v2")
	if err := c.SetMetaIf(ctx, "cond/f", m, cur.Version); err != nil {
		t.Fatalf("SetMetaIf with the current version: %v", err)
	}
	cur = stat(t, r, "cond/f")
	// Conditions on the destination: a file someone else put there, or a
	// version there other than the one given, stops the move.
	theirs := put(t, r, "cond/g", "theirs")
	wantErrIs(t, c.RenameIf(ctx, "cond/f", "cond/g", cur.Version, remote.Cond{IfNoneMatch: true}), remote.ErrPrecondition,
		"RenameIf onto an existing file with IfNoneMatch")
	wantErrIs(t, c.RenameIf(ctx, "cond/f", "cond/g", cur.Version, remote.Cond{IfMatch: old.Version}), remote.ErrPrecondition,
		"RenameIf onto another version than IfMatch")
	wantContent(t, r, "cond/f", "v2")
	wantContent(t, r, "cond/g", "theirs")
	if err := c.RenameIf(ctx, "cond/f", "cond/g", cur.Version, remote.Cond{IfMatch: theirs.Version}); err != nil {
		t.Fatalf("RenameIf with the current versions of both: %v", err)
	}
	wantContent(t, r, "cond/g", "v2")
	if err := c.RenameIf(ctx, "cond/f", "cond/g", cur.Version, remote.Cond{IfMatch: theirs.Version}); err != nil {
		t.Fatalf("RenameIf retried after it completed: %v", err)
	}
	// With the source gone, another file at the new name is not a move
	// an earlier call completed.
	moved := stat(t, r, "cond/g")
	put(t, r, "cond/g", "someone else's")
	wantErrIs(t, c.RenameIf(ctx, "cond/f", "cond/g", cur.Version, remote.Cond{IfMatch: moved.Version}), remote.ErrPrecondition,
		"RenameIf of a missing source onto another file")
	wantContent(t, r, "cond/g", "someone else's")
	// Onto a free name, empty files too (no content to copy in parts).
	for _, body := range []string{"v3", ""} {
		e := put(t, r, "cond/h", body)
		if err := c.RenameIf(ctx, "cond/h", "cond/i", e.Version, remote.Cond{IfNoneMatch: true}); err != nil {
			t.Fatalf("RenameIf of %q onto a free name: %v", body, err)
		}
		wantContent(t, r, "cond/i", body)
		if _, err := r.Stat(ctx, "cond/h"); !errors.Is(err, remote.ErrNotFound) {
			t.Fatalf("after RenameIf, the source is still there: %v", err)
		}
		if err := r.Delete(ctx, "cond/i", remote.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
}

// testVersionedGet checks that a Get for a version that is no longer
// current fails instead of returning the new version's bytes.
func testVersionedGet(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	const p = "versioned/file"
	e1 := put(t, r, p, "the first version")
	for _, c := range []struct{ off, length int64 }{{0, -1}, {4, 5}, {0, 0}} {
		rc, err := r.Get(ctx, p, c.off, c.length, e1.Version)
		if err != nil {
			t.Fatalf("Get(%q, %d, %d) of the current version: %v", p, c.off, c.length, err)
		}
		rc.Close()
	}
	put(t, r, p, "the second, longer version")
	for _, c := range []struct{ off, length int64 }{{0, -1}, {4, 5}, {0, 0}} {
		rc, err := r.Get(ctx, p, c.off, c.length, e1.Version)
		if err == nil {
			rc.Close()
		}
		wantErrIs(t, err, remote.ErrPrecondition, fmt.Sprintf("Get(%q, %d, %d) of a replaced version", p, c.off, c.length))
	}
}
