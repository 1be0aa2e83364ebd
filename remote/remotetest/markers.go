package remotetest

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// testDirMarkers checks that directories made with Mkdir exist while empty
// (on S3, by their "dir/" marker) and that directories holding files need
// no Mkdir.
func testDirMarkers(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	mkdir := func(p string) {
		t.Helper()
		if err := r.Mkdir(ctx, p, remote.Meta{}); err != nil {
			t.Fatalf("Mkdir(%q): %v", p, err)
		}
	}
	wantDir := func(p string) remote.Entry {
		t.Helper()
		e := stat(t, r, p)
		if !e.Dir {
			t.Fatalf("Stat(%q) = %+v, want a directory", p, e)
		}
		return e
	}

	mkdir("dm/empty")
	put(t, r, "dm/file", "file")
	put(t, r, "dm/implicit/f", "f")
	wantNames(t, "dm", list(t, r, "dm"), "dm/empty/", "dm/file", "dm/implicit/")
	wantNames(t, "dm/empty", list(t, r, "dm/empty"))
	wantDir("dm/empty")
	wantDir("dm/implicit")

	// A directory inside an empty one comes and goes; the outer one stays.
	mkdir("dm/empty/sub")
	wantNames(t, "dm/empty", list(t, r, "dm/empty"), "dm/empty/sub/")
	if err := r.Rmdir(ctx, "dm/empty/sub"); err != nil {
		t.Fatalf("Rmdir: %v", err)
	}
	wantNames(t, "dm/empty", list(t, r, "dm/empty"))
	wantDir("dm/empty")

	// A directory made with Mkdir outlives its last file.
	mkdir("dm/kept")
	put(t, r, "dm/kept/f", "f")
	if err := r.Delete(ctx, "dm/kept/f", remote.Cond{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantDir("dm/kept")
	wantNames(t, "dm/kept", list(t, r, "dm/kept"))

	// Mkdir of a directory that holds files changes nothing.
	mkdir("dm/implicit")
	wantNames(t, "dm/implicit", list(t, r, "dm/implicit"), "dm/implicit/f")

	// An empty directory moves.
	if err := r.Rename(ctx, "dm/empty", "dm/moved"); err != nil {
		t.Fatalf("Rename of an empty directory: %v", err)
	}
	wantDir("dm/moved")
	wantMissing(t, r, "dm/empty")
	wantNames(t, "dm", list(t, r, "dm"), "dm/moved/", "dm/file", "dm/implicit/", "dm/kept/")

	// Directories keep a modification time, with or without Mkdir.
	dirTime := time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)
	for _, d := range []string{"dm/moved", "dm/implicit"} {
		if err := r.SetMeta(ctx, d, remote.Meta{ModTime: dirTime}); err != nil {
			t.Fatalf("SetMeta(%q): %v", d, err)
		}
		if e := wantDir(d); !sameTime(e.ModTime, dirTime) {
			t.Errorf("Stat(%q).ModTime = %v after SetMeta, want %v", d, e.ModTime, dirTime)
		}
	}
	wantContent(t, r, "dm/implicit/f", "f")

	// A file in the way of Mkdir is an error no retry fixes.
	err := r.Mkdir(ctx, "dm/file", remote.Meta{})
	wantErrIs(t, err, remote.ErrPermanent, "Mkdir over a file")
	wantContent(t, r, "dm/file", "file")
}

// oddKeys returns names that trouble XML listings (control characters,
// markup), URL and copy-source encoding, and Unicode normalisation.
func oddKeys() []string {
	return []string{
		"tab\there", "new\nline", "ctrl\x01char", "del\x7f", `<xml> & "quotes" 'too'`, "back\\slash",
		"cafe\u0301", "...", "a..b", "-dash", "~", "sp +plus", "100%", "%2F", "semi;colon", "star*",
		"pipe|", "colon:", "at@", "comma,", "dollar$", "brace{}", "caret^", "grave`", "\u00a0nbsp",
	}
}

func testOddKeys(t *testing.T, r remote.Remote, _ Options) {
	ctx := t.Context()
	var want, wantMoved []string
	for _, name := range oddKeys() {
		p := "keys/" + name
		e := put(t, r, p, "content of "+name)
		want = append(want, p)
		wantContent(t, r, p, "content of "+name)
		if _, err := r.Copy(ctx, p, "keys2/"+name); err != nil {
			t.Fatalf("Copy(%q): %v", p, err)
		}
		wantMoved = append(wantMoved, "keys3/"+name)
		if s := stat(t, r, p); s.Version != e.Version {
			t.Errorf("Stat(%q).Version = %q, Put returned %q", p, s.Version, e.Version)
		}
	}
	const dir = "keys/sub\x01dir\twith tab"
	put(t, r, dir+"/f", "f")
	wantNames(t, "keys", list(t, r, "keys"), append(want, dir+"/")...)
	wantNames(t, dir, list(t, r, dir), dir+"/f")

	if err := r.Rename(ctx, "keys2", "keys3"); err != nil {
		t.Fatalf("Rename of a directory of odd keys: %v", err)
	}
	wantNames(t, "keys3", list(t, r, "keys3"), wantMoved...)
	for i, name := range oddKeys() {
		p := "keys3/" + name
		wantContent(t, r, p, "content of "+name)
		var cond remote.Cond
		if i%2 == 0 { // conditional deletes copy the key on S3
			cond.IfMatch = stat(t, r, p).Version
		}
		if err := r.Delete(ctx, p, cond); err != nil {
			t.Fatalf("Delete(%q, %+v): %v", p, cond, err)
		}
		wantMissing(t, r, p)
	}
	if got := list(t, r, "keys"); len(got) != len(want)+1 {
		t.Errorf("List(%q) after deleting the copies: %d entries, want %d", "keys", len(got), len(want)+1)
	}
	for p := range list(t, r, "") {
		if strings.HasPrefix(p, ".") {
			t.Errorf("List(%q) shows %q", "", p)
		}
	}
}
