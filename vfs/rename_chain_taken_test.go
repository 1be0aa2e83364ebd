package vfs

import (
	"context"
	"io"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// remoteOnly is a mount whose files d/c.txt (ours) and b.txt (old) are
// only on the remote, with an uploader that waits for a flush.
type remoteOnly struct {
	l    *local.Local
	fs   *FS
	up   *journal.Uploader
	did  uint64
	b    remote.Entry // b.txt as the mount knows it
	ours string
}

func newRemoteOnly(t *testing.T) *remoteOnly {
	ctx := context.Background()
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &remoteOnly{l: l, ours: strings.Repeat("o", 28)}
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	if err := l.Mkdir(ctx, "d", remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	ec, err := l.Put(ctx, "d/c.txt", strings.NewReader(r.ours), int64(len(r.ours)), meta, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.b, err = l.Put(ctx, "b.txt", strings.NewReader("old"), 3, meta, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	r.fs, r.up = newSynced(t, l, journal.Config{WriteBack: time.Hour, Device: "devB"})
	if err := r.up.ApplyChange(journal.Change{Op: "mkdir", Path: "d", Dir: true}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []remote.Entry{ec, r.b} {
		if err := r.up.ApplyChange(change("put", e)); err != nil {
			t.Fatal(err)
		}
	}
	r.did, _, _ = r.fs.NodeAt("d")
	return r
}

// put writes p on the remote, as another device.
func (r *remoteOnly) put(t *testing.T, p, content string, cond remote.Cond) {
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644}
	if _, err := r.l.Put(context.Background(), p, strings.NewReader(content), int64(len(content)), meta, cond); err != nil {
		t.Fatal(err)
	}
}

func (r *remoteOnly) flush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 { // a conflict copy made by a flush goes up with a later one
		if failed, err := r.up.Flush(ctx); err != nil || len(failed) > 0 {
			t.Fatalf("flush: %v %v", failed, err)
		}
	}
}

// check verifies that the remote holds each of want once, theirs at the
// paths of at, and that the mount shows and reads the same files. It
// returns the remote's files by content.
func (r *remoteOnly) check(t *testing.T, want []string, at map[string]string) map[string]remote.Entry {
	ctx := context.Background()
	byContent := map[string]remote.Entry{}
	var got []string
	var walk func(dir string)
	walk = func(dir string) {
		var es []remote.Entry
		if err := r.l.List(ctx, dir, func(e remote.Entry) error { es = append(es, e); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Dir {
				walk(e.Path)
				continue
			}
			rc, err := r.l.Get(ctx, e.Path, 0, -1, "")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			byContent[string(b)] = e
			got = append(got, string(b))
		}
	}
	walk("")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the remote holds %q, want each of %q once", got, want)
	}
	for p, c := range at {
		if e, ok := byContent[c]; !ok || e.Path != p {
			t.Errorf("%q is at %q on the remote, want %s", c, e.Path, p)
		}
	}
	for c, e := range byContent {
		id, _, ok := r.fs.NodeAt(e.Path)
		if !ok {
			t.Errorf("%s is on the remote, not in the mount", e.Path)
			continue
		}
		fh, err := r.fs.Open(id, syscall.O_RDONLY)
		if err != nil {
			t.Errorf("open %s: %v", e.Path, err)
			continue
		}
		buf := make([]byte, 100)
		n, err := r.fs.Read(fh, buf, 0)
		r.fs.Release(fh)
		if err != nil || string(buf[:n]) != c {
			t.Errorf("%s reads %q (%v), want %q", e.Path, buf[:n], err, c)
		}
	}
	if n := r.fs.FilesUnder(""); n != len(byContent) {
		t.Errorf("the mount has %d files, the remote %d", n, len(byContent))
	}
	return byContent
}

// TestRenameChainOntoTakenKeepsIt: a file whose content is only on the
// remote is renamed here onto a file this device knows (replacing it),
// then on to another name, and a new file is made at the first name;
// meanwhile another device writes the first name. The first rename meets
// their file: theirs keeps the name, and this file, which only the
// remote holds, goes on to where the second rename took it, or to a
// conflict copy there when they wrote that name too. It was deleted
// instead, because its later rename was pending, and lost everywhere.
func TestRenameChainOntoTakenKeepsIt(t *testing.T) {
	for _, takeSecond := range []bool{false, true} {
		t.Run(map[bool]string{false: "second name free", true: "second name taken"}[takeSecond], func(t *testing.T) {
			r := newRemoteOnly(t)
			// Here: d/c.txt → b.txt (replacing it) → d/g.txt, and a new b.txt.
			if err := r.fs.Rename(r.did, "c.txt", cache.RootID, "b.txt", 0); err != nil {
				t.Fatal(err)
			}
			if err := r.fs.Rename(cache.RootID, "b.txt", r.did, "g.txt", 0); err != nil {
				t.Fatal(err)
			}
			mine := "made here"
			_, fh, err := r.fs.Create(cache.RootID, "b.txt", syscall.O_WRONLY, 0o644, Caller{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.fs.Write(fh, []byte(mine), 0); err != nil {
				t.Fatal(err)
			}
			r.fs.Flush(fh)
			r.fs.Release(fh)
			// There, before these go up: b.txt (and d/g.txt) written.
			r.put(t, "b.txt", "theirs", remote.Cond{IfMatch: r.b.Version})
			want, at := []string{r.ours, mine, "theirs"}, map[string]string{"b.txt": "theirs", "d/g.txt": r.ours}
			if takeSecond {
				r.put(t, "d/g.txt", "theirs too", remote.Cond{IfNoneMatch: true})
				want, at["d/g.txt"] = append(want, "theirs too"), "theirs too"
			}
			r.flush(t)
			got := r.check(t, want, at)
			if p := got[r.ours].Path; takeSecond && !strings.HasPrefix(p, "d/g (conflict ") {
				t.Errorf("ours is at %s, want a conflict copy of d/g.txt", p)
			}
		})
	}
}

// TestRenameOntoTakenThenChmodKeepsIt: as above, with a metadata change
// instead of the second rename: the file goes to a conflict name with
// its new mode, not deleted because that change was pending.
func TestRenameOntoTakenThenChmodKeepsIt(t *testing.T) {
	r := newRemoteOnly(t)
	if err := r.fs.Rename(r.did, "c.txt", cache.RootID, "b.txt", 0); err != nil {
		t.Fatal(err)
	}
	id, _, _ := r.fs.NodeAt("b.txt")
	mode := uint32(0o600)
	if _, err := r.fs.SetAttr(id, SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	r.put(t, "b.txt", "theirs", remote.Cond{IfMatch: r.b.Version})
	r.flush(t)
	got := r.check(t, []string{r.ours, "theirs"}, map[string]string{"b.txt": "theirs"})
	if e := got[r.ours]; e.Mode.Perm() != 0o600 {
		t.Errorf("ours is %s with mode %o on the remote, want 600", e.Path, e.Mode.Perm())
	}
}
