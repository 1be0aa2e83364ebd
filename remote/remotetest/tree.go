package remotetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-fs/ferry/remote"
)

func testList(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	for i := range 5 {
		put(t, r, fmt.Sprintf("dir/f%d", i), strings.Repeat("x", i))
	}
	put(t, r, "dir/sub/deep", "deep")
	put(t, r, "top", "top")

	got := list(t, r, "dir")
	wantNames(t, "dir", got, "dir/f0", "dir/f1", "dir/f2", "dir/f3", "dir/f4", "dir/sub/")
	for i := range 5 {
		if e := got[fmt.Sprintf("dir/f%d", i)]; e.Size != int64(i) {
			t.Errorf("List: %q has size %d, want %d", e.Path, e.Size, i)
		}
	}
	wantNames(t, "", list(t, r, ""), "dir/", "top")

	// An error from fn stops the listing and is returned.
	stop := errors.New("stop here")
	calls := 0
	err := r.List(ctx, "dir", func(remote.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with a failing fn: err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func testListNested(t *testing.T, r remote.Remote, _ Options) {
	put(t, r, "n/a/b/c.txt", "c")
	put(t, r, "n/a/d.txt", "d")
	put(t, r, "n/e/f.txt", "f")
	wantNames(t, "n", list(t, r, "n"), "n/a/", "n/e/")
	wantNames(t, "n/a", list(t, r, "n/a"), "n/a/b/", "n/a/d.txt")
	wantNames(t, "n/a/b", list(t, r, "n/a/b"), "n/a/b/c.txt")
}

// manyFiles is more than one page of any backend's listing (S3: 1,000).
const manyFiles = 1100

func testListPagination(t *testing.T, r remote.Remote, _ Options) {
	// Concurrent puts keep this fast against a network backend, and
	// exercise the "safe for concurrent use" part of the contract.
	work := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, manyFiles)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				p, c := fmt.Sprintf("many/f%05d", i), fmt.Sprint(i)
				if _, err := r.Put(t.Context(), p, strings.NewReader(c), int64(len(c)), meta(c), remote.Cond{}); err != nil {
					errs <- fmt.Errorf("Put(%q): %w", p, err)
				}
			}
		})
	}
	for i := range manyFiles {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	put(t, r, "many/zz/nested", "n")

	got := list(t, r, "many")
	if len(got) != manyFiles+1 {
		t.Fatalf("List(%q) reported %d entries, want %d", "many", len(got), manyFiles+1)
	}
	for i := range manyFiles {
		p := fmt.Sprintf("many/f%05d", i)
		if e, ok := got[p]; !ok || e.Dir || e.Size != int64(len(fmt.Sprint(i))) {
			t.Fatalf("List(%q): entry %q = %+v, %v", "many", p, e, ok)
		}
	}
	if !got["many/zz"].Dir {
		t.Errorf("List(%q) misses directory %q after the files", "many", "many/zz")
	}
}

func testDelete(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	put(t, r, "del/file", "x")
	put(t, r, "del/keep", "keep")
	if err := r.Delete(ctx, "del/file", remote.Cond{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, r, "del/file")
	wantNames(t, "del", list(t, r, "del"), "del/keep")
	for _, p := range []string{"del/file", "del/never", "nodir/never"} {
		if err := r.Delete(ctx, p, remote.Cond{}); err != nil {
			t.Errorf("Delete(%q) of a missing file: %v", p, err)
		}
	}

	// Delete of a directory may fail or do nothing, but never removes
	// what is inside.
	put(t, r, "del/dir/inside", "inside")
	_ = r.Delete(ctx, "del/dir", remote.Cond{})
	wantContent(t, r, "del/dir/inside", "inside")
}

func testCopy(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	const src, content = "copy/src", "copied content"
	put(t, r, src, content)
	e, err := r.Copy(ctx, src, "copy/new/dst")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if e.Path != "copy/new/dst" || e.Size != int64(len(content)) || e.Version == "" {
		t.Errorf("Copy = %+v, want path %q, size %d, a version", e, "copy/new/dst", len(content))
	}
	wantContent(t, r, "copy/new/dst", content)
	wantContent(t, r, src, content)
	wantMeta(t, "Stat of a copy", stat(t, r, "copy/new/dst"), meta(content))

	put(t, r, "copy/other", "other, longer content to overwrite")
	if _, err := r.Copy(ctx, src, "copy/other"); err != nil {
		t.Fatalf("Copy over an existing file: %v", err)
	}
	wantContent(t, r, "copy/other", content)
	if _, err := r.Copy(ctx, src, "copy/other"); err != nil {
		t.Fatalf("Copy again: %v", err)
	}
	wantContent(t, r, "copy/other", content)

	_, err = r.Copy(ctx, "copy/missing", "copy/x")
	wantErrIs(t, err, remote.ErrNotFound, "Copy of a missing file")
	wantMissing(t, r, "copy/x")
}

func testRenameFile(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	put(t, r, "mv/a.txt", "a")
	if err := r.Rename(ctx, "mv/a.txt", "mv2/sub/b.txt"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	wantMissing(t, r, "mv/a.txt")
	wantContent(t, r, "mv2/sub/b.txt", "a")
	wantMeta(t, "Stat after Rename", stat(t, r, "mv2/sub/b.txt"), meta("a"))

	// A retry after the move completed finds it done.
	if err := r.Rename(ctx, "mv/a.txt", "mv2/sub/b.txt"); err != nil {
		t.Fatalf("Rename retried: %v", err)
	}
	wantContent(t, r, "mv2/sub/b.txt", "a")

	put(t, r, "mv/c.txt", "c")
	if err := r.Rename(ctx, "mv/c.txt", "mv2/sub/b.txt"); err != nil {
		t.Fatalf("Rename over an existing file: %v", err)
	}
	wantContent(t, r, "mv2/sub/b.txt", "c")
	wantMissing(t, r, "mv/c.txt")

	err := r.Rename(ctx, "mv/missing", "mv/other")
	wantErrIs(t, err, remote.ErrNotFound, "Rename of a missing file")
	wantMissing(t, r, "mv/other")
}

func testRenameDir(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	files := map[string]string{"1.txt": "one", "y/2.txt": "two", "y/z/3.txt": "three"}
	for name, c := range files {
		put(t, r, "t/x/"+name, c)
	}
	put(t, r, "t/stay", "stay")
	if err := r.Rename(ctx, "t/x", "t/moved"); err != nil {
		t.Fatalf("Rename of a directory: %v", err)
	}
	for name, c := range files {
		wantContent(t, r, "t/moved/"+name, c)
		wantMissing(t, r, "t/x/"+name)
	}
	wantMissing(t, r, "t/x")
	wantNames(t, "t", list(t, r, "t"), "t/moved/", "t/stay")
	wantNames(t, "t/moved/y", list(t, r, "t/moved/y"), "t/moved/y/2.txt", "t/moved/y/z/")

	if err := r.Rename(ctx, "t/x", "t/moved"); err != nil {
		t.Fatalf("Rename of a directory retried: %v", err)
	}
	wantContent(t, r, "t/moved/y/z/3.txt", "three")
}

func testMkdirRmdir(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	for range 2 { // idempotent
		if err := r.Mkdir(ctx, "m/empty", remote.Meta{}); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
	}
	wantNames(t, "m", list(t, r, "m"), "m/empty/")
	if e := stat(t, r, "m/empty"); !e.Dir {
		t.Fatalf("Stat of a new directory = %+v, want a directory", e)
	}
	wantNames(t, "m/empty", list(t, r, "m/empty"))

	for range 2 { // idempotent
		if err := r.Rmdir(ctx, "m/empty"); err != nil {
			t.Fatalf("Rmdir: %v", err)
		}
	}
	wantMissing(t, r, "m/empty")
	if err := r.Rmdir(ctx, "m/never"); err != nil {
		t.Errorf("Rmdir of a missing directory: %v", err)
	}

	if err := r.Mkdir(ctx, "m/full", remote.Meta{}); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	put(t, r, "m/full/file", "content")
	err := r.Rmdir(ctx, "m/full")
	wantErrIs(t, err, remote.ErrPermanent, "Rmdir of a non-empty directory")
	wantContent(t, r, "m/full/file", "content")
	if e := stat(t, r, "m/full"); !e.Dir {
		t.Fatalf("Stat after a failed Rmdir = %+v, want a directory", e)
	}
}
