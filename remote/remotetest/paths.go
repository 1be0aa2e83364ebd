package remotetest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ferry-fs/ferry/remote"
)

// oddNames returns file names that break naive URL, query-string or encoding
// handling, plus the longest segment most filesystems allow (255 bytes,
// ending in a multi-byte rune).
func oddNames() []string {
	return []string{
		"with space", "plus+sign", "per%cent", "%20encoded", "hash#tag",
		"quest?ion", "amp&ersand", "eq=ual;semi", "café", "日本語", "rocket🚀",
		"'quote\"", "tilde~", "[brackets]", " lead and trail ",
		strings.Repeat("s", 251) + "🚀",
	}
}

func testOddNames(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	var want, wantCopy []string
	for _, name := range oddNames() {
		p := "odd/" + name
		put(t, r, p, "content of "+name)
		want = append(want, p)
		wantContent(t, r, p, "content of "+name)
		if _, err := r.Copy(ctx, p, "copy/"+name); err != nil {
			t.Fatalf("Copy(%q): %v", p, err)
		}
		wantCopy = append(wantCopy, "moved/"+name)
	}
	wantNames(t, "odd", list(t, r, "odd"), want...)
	if err := r.Rename(ctx, "copy", "moved"); err != nil {
		t.Fatalf("Rename of a directory of odd names: %v", err)
	}
	wantNames(t, "moved", list(t, r, "moved"), wantCopy...)
	for _, name := range oddNames() {
		wantContent(t, r, "moved/"+name, "content of "+name)
		if err := r.Delete(ctx, "moved/"+name, remote.Cond{}); err != nil {
			t.Fatalf("Delete(%q): %v", "moved/"+name, err)
		}
	}
	wantNames(t, "moved", list(t, r, "moved"))
}

// longPath returns a path of exactly n bytes of segments up to 200 bytes.
func longPath(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; ; i++ {
		left := n - b.Len()
		if b.Len() > 0 {
			left-- // the slash
		}
		if left <= 0 {
			break
		}
		seg := min(left, 200)
		if left-seg == 1 {
			seg-- // leave room for a slash and a one-byte segment
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), seg))
	}
	if b.Len() != n {
		t.Fatalf("longPath(%d) built %d bytes", n, b.Len())
	}
	return b.String()
}

func testLongPath(t *testing.T, r remote.Remote, opts Options) {
	p := longPath(t, opts.MaxKeyLen)
	put(t, r, p, "far down")
	wantContent(t, r, p, "far down")
	dir := p[:strings.LastIndexByte(p, '/')]
	wantNames(t, dir, list(t, r, dir), p)
	if err := r.Delete(t.Context(), p, remote.Cond{}); err != nil {
		t.Fatalf("Delete of a %d-byte path: %v", len(p), err)
	}
	wantMissing(t, r, p)
}

// badPaths returns paths that break the rules of the remote.Remote contract.
func badPaths() []string {
	return []string{
		"../x", "x/../../y", "/abs", "a//b", "a/./b", "./a", "a/.", "a/..", "..", ".",
		"a/", "nul\x00byte",
	}
}

func testRejectedPaths(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	put(t, r, "ok", "ok")
	for _, p := range append(badPaths(), "") {
		if e, err := r.Put(ctx, p, strings.NewReader("x"), 1, meta("x"), remote.Cond{}); err == nil {
			t.Errorf("Put(%q) = %+v, nil; want an error", p, e)
		}
		if err := r.Mkdir(ctx, p+"/d", remote.Meta{}); err == nil {
			t.Errorf("Mkdir(%q) succeeded", p+"/d")
		}
		if err := r.Delete(ctx, p, remote.Cond{}); err == nil {
			t.Errorf("Delete(%q) succeeded", p)
		}
		if err := r.Rename(ctx, "ok", p); err == nil {
			t.Errorf("Rename(%q, %q) succeeded", "ok", p)
		}
		if _, err := r.Copy(ctx, "ok", p); err == nil {
			t.Errorf("Copy(%q, %q) succeeded", "ok", p)
		}
	}
	for _, p := range badPaths() {
		if e, err := r.Stat(ctx, p); err == nil {
			t.Errorf("Stat(%q) = %+v, nil; want an error", p, e)
		}
	}
	wantNames(t, "", list(t, r, ""), "ok")
	wantContent(t, r, "ok", "ok")
}

func testSymlinks(t *testing.T, r remote.Remote, opts Options) {
	if !opts.Symlinks {
		t.Skip("backend does not store symlinks (Options.Symlinks)")
	}
	ctx := t.Context()
	for _, target := range []string{"../target/file", "/etc/passwd", "sibling", "日本 🚀"} {
		p := "links/" + fmt.Sprint(len(target))
		m := remote.Meta{ModTime: mtime, Link: target}
		e, err := r.Put(ctx, p, strings.NewReader(""), 0, m, remote.Cond{})
		if err != nil {
			t.Fatalf("Put symlink %q -> %q: %v", p, target, err)
		}
		if e.Link != target {
			t.Errorf("Put symlink: Entry.Link = %q, want %q", e.Link, target)
		}
		s := stat(t, r, p)
		if s.Link != target || s.Dir || s.Mode&os.ModeSymlink == 0 {
			t.Errorf("Stat(%q) = %+v, want a symlink to %q", p, s, target)
		}
		if !sameTime(s.ModTime, mtime) {
			t.Errorf("Stat(%q).ModTime = %v, want %v", p, s.ModTime, mtime)
		}
		if l := list(t, r, "links")[p]; l.Link != target {
			t.Errorf("List entry %+v, want a symlink to %q", l, target)
		}
	}

	// A file replaces a symlink and a symlink replaces a file.
	const p = "links/swap"
	if _, err := r.Put(ctx, p, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: "x"}, remote.Cond{}); err != nil {
		t.Fatalf("Put symlink: %v", err)
	}
	put(t, r, p, "now a file")
	if s := stat(t, r, p); s.Link != "" {
		t.Errorf("Stat after a file replaced a symlink = %+v", s)
	}
	wantContent(t, r, p, "now a file")
	if _, err := r.Put(ctx, p, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: "y"}, remote.Cond{}); err != nil {
		t.Fatalf("Put symlink over a file: %v", err)
	}
	if s := stat(t, r, p); s.Link != "y" {
		t.Errorf("Stat after a symlink replaced a file = %+v", s)
	}

	if err := r.Delete(ctx, p, remote.Cond{}); err != nil {
		t.Fatalf("Delete of a symlink: %v", err)
	}
	wantMissing(t, r, p)

	// If-Match names the version at the path, of either kind: a symlink
	// renamed over a file (ln -sf) or a file over a symlink replaces it.
	// A version that is gone fails, and changes nothing.
	const q = "links/cond"
	fe := put(t, r, q, "a file")
	le, err := r.Put(ctx, q, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: "z"}, remote.Cond{IfMatch: fe.Version})
	if err != nil {
		t.Fatalf("Put symlink If-Match the file's version: %v", err)
	}
	if s := stat(t, r, q); s.Link != "z" {
		t.Errorf("Stat after a symlink replaced a file on condition = %+v", s)
	}
	if _, err := r.Put(ctx, q, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: "w"}, remote.Cond{IfMatch: fe.Version}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("Put symlink If-Match a replaced version: %v, want ErrPrecondition", err)
	}
	const again = "a file again"
	if _, err := r.Put(ctx, q, strings.NewReader(again), int64(len(again)), meta(again), remote.Cond{IfMatch: le.Version}); err != nil {
		t.Fatalf("Put file If-Match the symlink's version: %v", err)
	}
	if s := stat(t, r, q); s.Link != "" {
		t.Errorf("Stat after a file replaced a symlink on condition = %+v", s)
	}
	wantContent(t, r, q, again)
	if l := list(t, r, "links")[q]; l.Link != "" || l.Size != int64(len(again)) {
		t.Errorf("List entry %+v, want the file alone", l)
	}
}
