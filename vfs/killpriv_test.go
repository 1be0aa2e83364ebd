package vfs

import (
	"testing"

	"github.com/ferry-fs/ferry/cache"
)

// TestChownClearsSetuid: chown(2) of a file clears setuid, and setgid
// when group-executable, even to the owner it already has, as Linux does.
// The mount asks the core to (HANDLE_KILLPRIV); it cleared them only when
// the owner changed. A directory keeps both.
func TestChownClearsSetuid(t *testing.T) {
	r := newRig(t, t.TempDir())
	f := r.writeFile(t, cache.RootID, "f", "x")
	d, err := r.fs.Mkdir(cache.RootID, "d", 0o755, me)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   uint64
		mode uint32
		want uint32
	}{
		{f, 0o4755, 0o755},
		{f, 0o6755, 0o755},
		{f, 0o2745, 0o2745}, // setgid without group execute: a locking mark, kept
		{d.Ino, 0o2755, 0o2755},
	} {
		mode, uid := c.mode, me.UID
		if _, err := r.fs.SetAttr(c.id, SetAttr{Mode: &mode}); err != nil {
			t.Fatal(err)
		}
		a, err := r.fs.SetAttr(c.id, SetAttr{UID: &uid})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Mode & 0o7777; got != c.want {
			t.Errorf("node %d: mode %o, chown to its owner: %o, want %o", c.id, c.mode, got, c.want)
		}
	}
}
