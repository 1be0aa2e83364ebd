package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// requireXattrs skips the test, saying why, when dir's filesystem keeps no
// user extended attributes (then hashes are never recorded, by design).
func requireXattrs(t *testing.T, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if ok, err := writeStamp(f, []byte("probe")); !ok || err != nil {
		t.Skipf("no user xattrs on %s (%v): hashes are not recorded there", dir, err)
	}
}

func TestHashRecorded(t *testing.T) {
	l := newLocal(t)
	requireXattrs(t, l.Root())
	ctx := t.Context()
	hash := strings.Repeat("ab", 32)
	m := remote.Meta{ModTime: time.Unix(1_600_000_000, 5), Mode: 0o644, Hash: hash}
	e, err := put(t, l, "f", "content", m)
	if err != nil || e.Hash != hash {
		t.Fatalf("Put = %+v, %v; want hash %q", e, err, hash)
	}
	wantHash := func(p, want, when string) {
		t.Helper()
		if e, err := l.Stat(ctx, p); err != nil || e.Hash != want {
			t.Errorf("%s: Stat(%q) = %+v, %v; want hash %q", when, p, e, err, want)
		}
	}
	wantHash("f", hash, "after Put")
	err = l.List(ctx, "", func(e remote.Entry) error {
		if e.Hash != hash {
			t.Errorf("List entry %+v, want hash %q", e, hash)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := l.SetMeta(ctx, "f", remote.Meta{ModTime: time.Unix(1_700_000_000, 0)}); err != nil {
		t.Fatal(err)
	}
	wantHash("f", hash, "after SetMeta")
	if _, err := l.Copy(ctx, "f", "g"); err != nil {
		t.Fatal(err)
	}
	wantHash("g", hash, "after Copy")
	if err := l.Rename(ctx, "g", "h"); err != nil {
		t.Fatal(err)
	}
	wantHash("h", hash, "after Rename")

	// Edited in place behind ferry's back: the recorded hash no longer holds.
	if err := os.WriteFile(filepath.Join(l.Root(), "h"), []byte("edited!"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantHash("h", "", "after an outside edit")
	if _, err := put(t, l, "f", "content", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	wantHash("f", "", "after a Put without hash")

	if _, err := put(t, l, "bad", "x", remote.Meta{Hash: "not hex"}); !remote.IsPermanent(err) {
		t.Errorf("Put with a malformed hash: err = %v, want permanent", err)
	}
}
