package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// twoDevices mounts one bucket twice, with separate caches: devices A and B.
func twoDevices(t *testing.T, extra ...string) (f *s3Fixture, a, b *ferryMount) {
	t.Helper()
	f = newS3(t)
	flags := append([]string{"--write-back", "100ms", "--poll-interval", "1s"}, extra...)
	a = f.mount(t, f.dirs(t), append(flags, "--device-name", "devA")...)
	b = f.mount(t, f.dirs(t), append(flags, "--device-name", "devB")...)
	return f, a, b
}

// eventually waits up to d for cond to hold and returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func contentIs(p, want string) func() bool {
	return func() bool {
		b, err := os.ReadFile(p)
		return err == nil && string(b) == want
	}
}

func gone(p string) func() bool {
	return func() bool {
		_, err := os.Lstat(p)
		return os.IsNotExist(err)
	}
}

// TestE2ETwoDevicesPropagation: create, edit, rename and delete on A each
// show up on B, through the change log, without a rescan.
func TestE2ETwoDevicesPropagation(t *testing.T) {
	t.Parallel()
	_, a, b := twoDevices(t, "--rescan-interval", "0")
	const wait = 30 * time.Second // generous: the bench measures latency
	step := func(what string, change func(), cond func() bool) {
		t.Helper()
		change()
		a.flush()
		took := eventually(t, wait, what+" on A does not show on B", cond)
		t.Logf("%s: on B %s after A's flush", what, took.Round(time.Millisecond))
	}
	at := func(m *ferryMount, p string) string { return filepath.Join(m.MP, p) }

	step("mkdir+create", func() {
		if err := os.MkdirAll(at(a, "docs/deep"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, at(a, "docs/deep/a.txt"), []byte("one\n"))
	}, contentIs(at(b, "docs/deep/a.txt"), "one\n"))
	step("edit", func() {
		writeFile(t, at(a, "docs/deep/a.txt"), []byte("one, then two\n"))
	}, contentIs(at(b, "docs/deep/a.txt"), "one, then two\n"))
	step("rename", func() {
		rename(t, at(a, "docs/deep/a.txt"), at(a, "docs/b.txt"))
	}, func() bool {
		return gone(at(b, "docs/deep/a.txt"))() && contentIs(at(b, "docs/b.txt"), "one, then two\n")()
	})
	step("dir rename", func() {
		rename(t, at(a, "docs"), at(a, "papers"))
	}, func() bool { return gone(at(b, "docs"))() && contentIs(at(b, "papers/b.txt"), "one, then two\n")() })
	step("delete", func() {
		if err := os.Remove(at(a, "papers/b.txt")); err != nil {
			t.Fatal(err)
		}
	}, gone(at(b, "papers/b.txt")))

	// And back the other way.
	writeFile(t, at(b, "from-b.txt"), []byte("hello from B\n"))
	b.flush()
	eventually(t, wait, "a file made on B does not show on A", contentIs(at(a, "from-b.txt"), "hello from B\n"))
	a.unmount()
	b.unmount()
}

// TestE2ETwoDevicesSimultaneousEdits: both devices edit the same file
// before either sees the other's edit. Both versions survive, on both
// devices: one under the name, the other as a conflict copy.
func TestE2ETwoDevicesSimultaneousEdits(t *testing.T) {
	t.Parallel()
	_, a, b := twoDevices(t, "--rescan-interval", "0")
	pa, pb := filepath.Join(a.MP, "shared.txt"), filepath.Join(b.MP, "shared.txt")
	writeFile(t, pa, []byte("base\n"))
	a.flush()
	eventually(t, 30*time.Second, "B never sees shared.txt", contentIs(pb, "base\n"))

	writeFile(t, pa, []byte("edit from A\n"))
	writeFile(t, pb, []byte("edit from B\n"))
	a.flush()
	b.flush()
	want := []string{"edit from A\n", "edit from B\n"}
	converged := func() bool {
		ca, cb := dirContents(t, a.MP), dirContents(t, b.MP)
		return fmt.Sprint(ca) == fmt.Sprint(cb) && len(ca) == 2 && fmt.Sprint(values(ca)) == fmt.Sprint(want)
	}
	eventually(t, 60*time.Second, "the devices do not converge on both versions", func() bool {
		a.flush()
		b.flush()
		return converged()
	})
	names := dirContents(t, a.MP)
	t.Logf("converged: %v", names)
	copies := 0
	for name := range names {
		if strings.Contains(name, " (conflict ") {
			copies++
		}
	}
	if copies != 1 {
		t.Errorf("want one conflict copy, got %v", names)
	}
	a.unmount()
	b.unmount()
}

// dirContents maps the names of the files at the top of dir to contents.
func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			out[e.Name()] = string(b)
		}
	}
	return out
}

func values(m map[string]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	sort.Strings(v)
	return v
}

// TestE2ETwoDevicesStaleOpen: B knows a file only by its old metadata (it
// has not heard of A's change yet) when it opens it. The read must give
// A's whole new version, never the old size's worth of the new bytes,
// both through a streaming read and an open for writing.
func TestE2ETwoDevicesStaleOpen(t *testing.T) {
	t.Parallel()
	// B polls only when told to.
	_, a, b := twoDevices(t, "--rescan-interval", "0", "--poll-interval", "1h")
	for _, c := range []struct {
		name  string
		write bool
	}{{"read.txt", false}, {"rw.txt", true}} {
		pa, pb := filepath.Join(a.MP, c.name), filepath.Join(b.MP, c.name)
		writeFile(t, pa, []byte("old\n"))
		a.flush()
		mustFerry(t, time.Minute, "sync", b.MP)
		if fi, err := os.Stat(pb); err != nil || fi.Size() != 4 {
			t.Fatalf("B after sync: %v %v", fi, err)
		}
		const newer = "the new version, longer than the old one\n"
		writeFile(t, pa, []byte(newer))
		a.flush()
		var got []byte
		var err error
		if c.write {
			var f *os.File
			if f, err = os.OpenFile(pb, os.O_RDWR, 0); err == nil {
				got, err = io.ReadAll(f)
				f.Close()
			}
		} else {
			got, err = os.ReadFile(pb)
		}
		if err != nil || string(got) != newer {
			t.Errorf("%s on B: %q, %v; want %q", c.name, got, err, newer)
		}
	}
	a.unmount()
	b.unmount()
}

// TestE2ETwoDevicesEditWhileOpen: B has a file open for writing when A's
// new version of it arrives. B's writes, before and after, must survive
// (as a conflict copy), and A's version must keep the name.
func TestE2ETwoDevicesEditWhileOpen(t *testing.T) {
	t.Parallel()
	_, a, b := twoDevices(t, "--rescan-interval", "0", "--poll-interval", "1h")
	pa, pb := filepath.Join(a.MP, "doc.txt"), filepath.Join(b.MP, "doc.txt")
	writeFile(t, pa, []byte("base\n"))
	a.flush()
	mustFerry(t, time.Minute, "sync", b.MP)
	f, err := os.OpenFile(pb, os.O_WRONLY, 0) // no O_TRUNC: nothing journaled until close
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("B, first half\n"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pa, []byte("A's new version\n"))
	a.flush()
	mustFerry(t, time.Minute, "sync", b.MP)
	if _, err := f.WriteString("B, second half\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b.flush()
	mustFerry(t, time.Minute, "sync", a.MP)
	want := []string{"A's new version\n", "B, first half\nB, second half\n"}
	for _, m := range []*ferryMount{a, b} {
		got := dirContents(t, m.MP)
		if got["doc.txt"] != want[0] || fmt.Sprint(values(got)) != fmt.Sprint(want) {
			t.Errorf("%s: %q; want doc.txt = %q and a conflict copy %q", m.MP, got, want[0], want[1])
		}
	}
	a.unmount()
	b.unmount()
}
