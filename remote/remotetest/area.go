package remotetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// listArea returns what ListArea reports, failing the test on an error or
// on names out of order.
func listArea(t *testing.T, a remote.Area, prefix, startAfter string, limit int) []remote.AreaObject {
	t.Helper()
	var got []remote.AreaObject
	err := a.ListArea(t.Context(), prefix, startAfter, limit, func(o remote.AreaObject) error {
		got = append(got, o)
		return nil
	})
	if err != nil {
		t.Fatalf("ListArea(%q, %q, %d): %v", prefix, startAfter, limit, err)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Name >= got[i].Name {
			t.Fatalf("ListArea(%q, %q, %d): %q before %q", prefix, startAfter, limit, got[i-1].Name, got[i].Name)
		}
	}
	return got
}

// areaNames returns the names of objs.
func areaNames(objs []remote.AreaObject) []string {
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	return names
}

// wantArea checks that ListArea reports exactly want, in that order.
func wantArea(t *testing.T, a remote.Area, prefix, startAfter string, limit int, want ...string) {
	t.Helper()
	if got := areaNames(listArea(t, a, prefix, startAfter, limit)); !slices.Equal(got, want) {
		t.Errorf("ListArea(%q, %q, %d) = %q, want %q", prefix, startAfter, limit, got, want)
	}
}

func putArea(t *testing.T, a remote.Area, name string, data []byte) {
	t.Helper()
	if err := a.PutArea(t.Context(), name, data); err != nil {
		t.Fatalf("PutArea(%q): %v", name, err)
	}
}

func wantAreaContent(t *testing.T, a remote.Area, name string, want []byte) {
	t.Helper()
	got, err := a.GetArea(t.Context(), name)
	if err != nil {
		t.Fatalf("GetArea(%q): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GetArea(%q) = %q, want %q", name, clip(string(got)), clip(string(want)))
	}
}

// areaSorted holds names whose byte order differs from the order of a
// depth-first walk of their directories: ' ', '-' and '.' sort before '/'.
var areaSorted = []string{"s/a b", "s/a-b", "s/a.c", "s/a/b", "s/a/c/d", "s/a0", "s/é"}

// putSorted puts the areaSorted names, last first, each holding
// "content of <name>".
func putSorted(t *testing.T, a remote.Area) {
	t.Helper()
	for i := len(areaSorted) - 1; i >= 0; i-- {
		putArea(t, a, areaSorted[i], []byte("content of "+areaSorted[i]))
	}
}

func testAreaPutGet(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	ctx := t.Context()
	_, err := a.GetArea(ctx, "s/a b")
	wantErrIs(t, err, remote.ErrNotFound, "GetArea of a missing name")
	putSorted(t, a)
	putArea(t, a, "t/empty", nil)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	putArea(t, a, "t/binary", binary)
	for _, name := range areaSorted {
		wantAreaContent(t, a, name, []byte("content of "+name))
	}
	wantAreaContent(t, a, "t/empty", nil)
	wantAreaContent(t, a, "t/binary", binary)
	putArea(t, a, "s/a0", []byte("replaced"))
	wantAreaContent(t, a, "s/a0", []byte("replaced"))

	for _, name := range []string{"s/a/b", "s/a/c/d", "s/a/b"} { // the second delete of s/a/b finds nothing
		if err := a.DeleteArea(ctx, name); err != nil {
			t.Fatalf("DeleteArea(%q): %v", name, err)
		}
		_, err := a.GetArea(ctx, name)
		wantErrIs(t, err, remote.ErrNotFound, "GetArea after DeleteArea")
	}
	wantArea(t, a, "s/", "", 0, "s/a b", "s/a-b", "s/a.c", "s/a0", "s/é")
	putArea(t, a, "s/a/b", []byte("back")) // into a directory the deletes emptied
	wantAreaContent(t, a, "s/a/b", []byte("back"))

	for _, name := range append(badPaths(), "", "x/", "x//y") {
		if err := a.PutArea(ctx, name, []byte("x")); !errors.Is(err, remote.ErrPermanent) {
			t.Errorf("PutArea(%q) = %v, want an error wrapping remote.ErrPermanent", name, err)
		}
		if _, err := a.GetArea(ctx, name); !remote.IsPermanent(err) {
			t.Errorf("GetArea(%q) = %v, want a permanent error", name, err)
		}
	}
}

func testAreaList(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	before := time.Now()
	wantArea(t, a, "", "", 0) // no area yet: nothing, no error
	putSorted(t, a)
	putArea(t, a, "t/x", nil)
	objs := listArea(t, a, "s/", "", 0)
	if got := areaNames(objs); !slices.Equal(got, areaSorted) {
		t.Fatalf("ListArea(%q) = %q, want %q", "s/", got, areaSorted)
	}
	for _, o := range objs {
		if o.Size != int64(len("content of "+o.Name)) {
			t.Errorf("ListArea: %q has size %d, want %d", o.Name, o.Size, len("content of "+o.Name))
		}
		if o.ModTime.Before(before.Add(-time.Minute)) || o.ModTime.After(time.Now().Add(time.Minute)) {
			t.Errorf("ListArea: %q stored at %v, want about now (%v)", o.Name, o.ModTime, before)
		}
	}
	wantArea(t, a, "", "", 0, append(slices.Clone(areaSorted), "t/x")...)
	wantArea(t, a, "s/a/", "", 0, "s/a/b", "s/a/c/d")
	wantArea(t, a, "s/a-", "", 0, "s/a-b")
	wantArea(t, a, "s/a", "s/a.c", 0, "s/a/b", "s/a/c/d", "s/a0")
	wantArea(t, a, "s/", "s/a.", 0, "s/a.c", "s/a/b", "s/a/c/d", "s/a0", "s/é")
	wantArea(t, a, "s/", "a", 0, areaSorted...)  // startAfter before the prefix
	wantArea(t, a, "s/", "s/", 0, areaSorted...) // startAfter equal to the prefix
	wantArea(t, a, "s/", "s/é", 0)
	wantArea(t, a, "s/", "", 2, "s/a b", "s/a-b")
	wantArea(t, a, "s/", "s/a-b", 3, "s/a.c", "s/a/b", "s/a/c/d")
	for _, prefix := range []string{"none/", "s/a/b/", "/s/", "s//", "s/../"} {
		wantArea(t, a, prefix, "", 0)
	}

	stop := errors.New("stop here")
	calls := 0
	err := a.ListArea(t.Context(), "s/", "", 0, func(remote.AreaObject) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ListArea with a failing fn: err = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// areaPageNames is more than one page of a listing of the area on S3.
const areaPageNames = 1050

func testAreaPagination(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	name := func(i int) string { return fmt.Sprintf("p/%05d", i) }
	work := make(chan int)
	errs := make(chan error, areaPageNames)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := a.PutArea(t.Context(), name(i), []byte(fmt.Sprint(i))); err != nil {
					errs <- fmt.Errorf("PutArea(%q): %w", name(i), err)
				}
			}
		})
	}
	for i := range areaPageNames {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	putArea(t, a, "q", []byte("after the prefix"))

	wantRange := func(startAfter string, limit, from, to int, requests uint64) {
		t.Helper()
		n := requestCount(r)
		got := listArea(t, a, "p/", startAfter, limit)
		if used := requestCount(r) - n; requests != 0 && used > requests {
			t.Errorf("ListArea(%q, %q, %d) sent %d requests, want %d", "p/", startAfter, limit, used, requests)
		}
		if len(got) != to-from {
			t.Fatalf("ListArea(%q, %q, %d) reported %d names, want %d", "p/", startAfter, limit, len(got), to-from)
		}
		for i, o := range got {
			if o.Name != name(from+i) || o.Size != int64(len(fmt.Sprint(from+i))) {
				t.Fatalf("ListArea(%q, %q, %d): object %d is %+v, want %q", "p/", startAfter, limit, i, o, name(from+i))
			}
		}
	}
	wantRange("", 0, 0, areaPageNames, 2)
	wantRange(name(999), 0, 1000, areaPageNames, 1)
	wantRange("", 1020, 0, 1020, 2)
	wantRange(name(9), 1000, 10, 1010, 1)
	// An idle poll of the change log: one request however long the log.
	wantRange(name(areaPageNames-1), 0, 0, 0, 1)
}

// requestCount returns the requests r has sent so far, when it counts
// them, else 0.
func requestCount(r remote.Remote) uint64 {
	c, ok := r.(remote.Counter)
	if !ok {
		return 0
	}
	var n uint64
	for _, v := range c.Requests() {
		n += v
	}
	return n
}

func testAreaHidden(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	ctx := t.Context()
	putArea(t, a, "log/1", []byte("log entry"))
	put(t, r, "ok", "ok")
	put(t, r, "d/.ferry", "not the area below the top level")
	put(t, r, "d/.ferry-like", "nor this")
	wantNames(t, "", list(t, r, ""), "ok", "d/")
	wantNames(t, "d", list(t, r, "d"), "d/.ferry", "d/.ferry-like")
	if w, ok := r.(remote.Walker); ok {
		for _, e := range walk(t, w) {
			if strings.HasPrefix(e.Path, ".ferry") {
				t.Errorf("Walk shows %q", e.Path)
			}
		}
	}

	for _, p := range []string{".ferry", ".ferry/log", ".ferry/log/1"} {
		_, err := r.Stat(ctx, p)
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Stat(%q)", p))
		err = r.List(ctx, p, func(remote.Entry) error { return nil })
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("List(%q)", p))
		_, err = r.Get(ctx, p, 0, -1, "")
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Get(%q)", p))
		_, err = r.Put(ctx, p, strings.NewReader("x"), 1, meta("x"), remote.Cond{})
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Put(%q)", p))
		err = r.Delete(ctx, p, remote.Cond{})
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Delete(%q)", p))
		err = r.Mkdir(ctx, p, remote.Meta{})
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Mkdir(%q)", p))
		err = r.Rename(ctx, "ok", p)
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Rename(%q, %q)", "ok", p))
		_, err = r.Copy(ctx, "ok", p)
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("Copy(%q, %q)", "ok", p))
		err = r.SetMeta(ctx, p, remote.Meta{ModTime: mtime})
		wantErrIs(t, err, remote.ErrPermanent, fmt.Sprintf("SetMeta(%q)", p))
	}
	wantAreaContent(t, a, "log/1", []byte("log entry"))
	wantContent(t, r, "ok", "ok")
}
