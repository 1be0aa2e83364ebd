package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// offlinePair mounts one bucket twice: A directly, B through a proxy that
// the test can take down.
func offlinePair(t *testing.T, extra ...string) (f *s3Fixture, proxy *tcpProxy, a, b *ferryMount) {
	t.Helper()
	f = newS3(t)
	proxy = newTCPProxy(t, f.srv.Endpoint)
	flags := append([]string{"--write-back", "100ms", "--poll-interval", "1s", "--rescan-interval", "0"}, extra...)
	a = f.mount(t, f.dirs(t), append(flags, "--device-name", "devA")...)
	b = startMountEnv(t, f.dirs(t), f.env(), append(flags, "--s3-endpoint", proxy.URL(), "--device-name", "devB")...)
	return f, proxy, a, b
}

// TestE2ETwoDevicesOfflineEdits: device B reaches the bucket through a
// proxy that goes down for a while; A stays online. Both edit the same
// file and make new ones meanwhile; B keeps working offline. Once B is
// back and both flush and poll, the devices converge: every new file is on
// both, and both edits of the shared file exist, one as a conflict copy.
func TestE2ETwoDevicesOfflineEdits(t *testing.T) {
	t.Parallel()
	f, proxy, a, b := offlinePair(t)
	atA := func(p string) string { return filepath.Join(a.MP, p) }
	atB := func(p string) string { return filepath.Join(b.MP, p) }

	writeFile(t, atA("shared.txt"), []byte("base\n"))
	writeFile(t, atA("untouched.txt"), []byte("nobody edits this\n"))
	writeFile(t, atA("unread.txt"), []byte("B reads this only once it is back\n"))
	a.flush()
	eventually(t, 30*time.Second, "B never sees A's files", func() bool {
		_, err := os.Stat(atB("unread.txt")) // listed, not downloaded
		return err == nil && contentIs(atB("shared.txt"), "base\n")() && contentIs(atB("untouched.txt"), "nobody edits this\n")()
	})

	proxy.down()
	outage := time.Now()
	// A, online, edits and adds.
	writeFile(t, atA("shared.txt"), []byte("edit from A\n"))
	writeFile(t, atA("from-a.txt"), []byte("made on A while B was away\n"))
	a.flush()
	// B, offline, does the same, without blocking.
	offline := func(what string, fn func() error) {
		t.Helper()
		if err := bounded(t, 20*time.Second, what, fn); err != nil {
			t.Fatalf("offline on B: %s: %v", what, err)
		}
	}
	offline("edit shared.txt", func() error { return os.WriteFile(atB("shared.txt"), []byte("edit from B\n"), 0o644) })
	offline("create from-b.txt", func() error { return os.WriteFile(atB("from-b.txt"), []byte("made on B offline\n"), 0o644) })
	offline("mkdir b-dir", func() error { return os.Mkdir(atB("b-dir"), 0o755) })
	offline("create b-dir/inner.txt", func() error {
		return os.WriteFile(atB("b-dir/inner.txt"), []byte("inner\n"), 0o644)
	})
	offline("read untouched.txt", func() error {
		if got, err := os.ReadFile(atB("untouched.txt")); err != nil || string(got) != "nobody edits this\n" {
			return fmt.Errorf("read %q, %v", got, err)
		}
		return nil
	})
	offline("read unread.txt, never downloaded: EIO", func() error {
		if got, err := os.ReadFile(atB("unread.txt")); !errors.Is(err, syscall.EIO) {
			return fmt.Errorf("read %q, %v; want EIO", got, err)
		}
		return nil
	})
	if st := ferryStatus(t, b.MP); st.ReadError == "" {
		t.Errorf("B's status does not say why unread.txt cannot be read: %+v", st)
	} else {
		t.Logf("B's status, read error: %s", st.ReadError)
	}
	// B waits with its changes pending, and says so.
	var st statusReply
	eventually(t, 20*time.Second, "B's status never shows its changes pending and retried while offline", func() bool {
		st = ferryStatus(t, b.MP)
		return st.PendingOps > 0 && (st.Retrying > 0 || st.LastError != "")
	})
	for time.Since(outage) < 4*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	st = ferryStatus(t, b.MP)
	t.Logf("B after %v offline: pending %d, retrying %d, last error %q, poll error %q",
		time.Since(outage).Round(time.Second), st.PendingOps, st.Retrying, st.LastError, st.PollError)
	if contentIs(atB("from-a.txt"), "made on A while B was away\n")() {
		t.Errorf("B shows from-a.txt while it cannot reach the bucket")
	}

	proxy.up()
	want := map[string]string{
		"untouched.txt": "nobody edits this\n",
		"unread.txt":    "B reads this only once it is back\n",
		"from-a.txt":    "made on A while B was away\n",
		"from-b.txt":    "made on B offline\n",
	}
	converged := func() bool {
		ca, cb := dirContents(t, a.MP), dirContents(t, b.MP)
		if fmt.Sprint(ca) != fmt.Sprint(cb) {
			return false
		}
		for p, w := range want {
			if ca[p] != w {
				return false
			}
		}
		edits := 0
		for p, c := range ca {
			if (p == "shared.txt" || strings.HasPrefix(p, "shared (conflict ")) && (c == "edit from A\n" || c == "edit from B\n") {
				edits++
			}
		}
		return edits == 2 && len(ca) == len(want)+2 && contentIs(atA("b-dir/inner.txt"), "inner\n")()
	}
	took := eventually(t, 90*time.Second, "the devices do not converge after B is back", func() bool {
		mustFerry(t, 2*time.Minute, "flush", b.MP, "--timeout", "90s")
		a.flush()
		mustFerry(t, 30*time.Second, "sync", a.MP)
		mustFerry(t, 30*time.Second, "sync", b.MP)
		return converged()
	})
	names := dirContents(t, a.MP)
	t.Logf("converged %v after B came back: %q", took.Round(time.Millisecond), names)
	copies := 0
	for name, c := range names {
		if strings.Contains(name, " (conflict ") {
			copies++
			if !strings.HasPrefix(name, "shared (conflict ") || !strings.HasSuffix(name, ").txt") {
				t.Errorf("conflict copy %q: want shared (conflict DATE TIME DEVICE).txt", name)
			}
			t.Logf("conflict copy %q holds %q", name, c)
		}
	}
	if copies != 1 {
		t.Errorf("want exactly one conflict copy, got %q", names)
	}
	if r := mustFerry(t, 20*time.Second, "conflicts", b.MP); !strings.Contains(r.stdout, "shared (conflict ") {
		t.Errorf("ferry conflicts on B does not list the conflict copy: %s", r)
	}
	for _, m := range []*ferryMount{a, b} {
		if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 || st.ReadError != "" {
			t.Errorf("%s: status %+v, want nothing pending, failed or unreadable", m.MP, st)
		}
	}
	// Both versions are in the bucket too.
	f.compareBucket(t, a.MP, "", compareOpts{})
	a.unmount()
	b.unmount()
}

// TestE2ETwoDevicesOfflineEditVsDelete: while B is offline, A deletes a
// file B edits, and A edits a file B deletes. Once B is back: the local
// edit wins over the remote delete (the file stays and goes up again), and
// the remote edit wins over the local delete (the file comes back), on
// both devices.
func TestE2ETwoDevicesOfflineEditVsDelete(t *testing.T) {
	t.Parallel()
	f, proxy, a, b := offlinePair(t)
	atA := func(p string) string { return filepath.Join(a.MP, p) }
	atB := func(p string) string { return filepath.Join(b.MP, p) }
	writeFile(t, atA("edited-on-b.txt"), []byte("base x\n"))
	writeFile(t, atA("edited-on-a.txt"), []byte("base y\n"))
	a.flush()
	eventually(t, 30*time.Second, "B never sees A's files", func() bool {
		return contentIs(atB("edited-on-b.txt"), "base x\n")() && contentIs(atB("edited-on-a.txt"), "base y\n")()
	})

	proxy.down()
	remove(t, atA("edited-on-b.txt"))
	writeFile(t, atA("edited-on-a.txt"), []byte("A's edit of y\n"))
	a.flush()
	if err := bounded(t, 20*time.Second, "offline edit on B", func() error {
		return os.WriteFile(atB("edited-on-b.txt"), []byte("B's edit of x\n"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if err := bounded(t, 20*time.Second, "offline delete on B", func() error { return os.Remove(atB("edited-on-a.txt")) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "B's status never shows its changes pending while offline", func() bool {
		return ferryStatus(t, b.MP).PendingOps > 0
	})
	time.Sleep(2 * time.Second)
	proxy.up()

	want := map[string]string{"edited-on-b.txt": "B's edit of x\n", "edited-on-a.txt": "A's edit of y\n"}
	took := eventually(t, 90*time.Second, "the devices do not converge on both edits after B is back", func() bool {
		mustFerry(t, 2*time.Minute, "flush", b.MP, "--timeout", "90s")
		a.flush()
		mustFerry(t, 30*time.Second, "sync", a.MP)
		mustFerry(t, 30*time.Second, "sync", b.MP)
		ca, cb := dirContents(t, a.MP), dirContents(t, b.MP)
		return fmt.Sprint(ca) == fmt.Sprint(want) && fmt.Sprint(cb) == fmt.Sprint(want)
	})
	t.Logf("converged %v after B came back", took.Round(time.Millisecond))
	for k, v := range want {
		if !f.objectIs(t, k, v) {
			t.Errorf("the bucket's %s is not %q", k, v)
		}
	}
	a.unmount()
	b.unmount()
}

// TestE2ETwoDevicesDirRenameVsEdits: the conflicts table's last row. One
// device renames a directory while the other edits files inside it, adds
// one, and edits one a level down; B is offline meanwhile, and is the one
// editing or the one renaming. Once B is back, nothing is lost: every
// change ends up inside the renamed directory, on both devices, and the
// old name is gone.
func TestE2ETwoDevicesDirRenameVsEdits(t *testing.T) {
	t.Parallel()
	for _, offlineRenames := range []bool{false, true} {
		name := "offline edits"
		if offlineRenames {
			name = "offline rename"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dirRenameVsEdits(t, offlineRenames)
		})
	}
}

func dirRenameVsEdits(t *testing.T, offlineRenames bool) {
	_, proxy, a, b := offlinePair(t, "--log-level", "debug")
	atA := func(p string) string { return filepath.Join(a.MP, p) }
	atB := func(p string) string { return filepath.Join(b.MP, p) }
	base := map[string]string{"proj/a.txt": "a\n", "proj/b.txt": "b\n", "proj/sub/c.txt": "c\n"}
	if err := os.MkdirAll(atA("proj/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, c := range base {
		writeFile(t, atA(p), []byte(c))
	}
	a.flush()
	eventually(t, 30*time.Second, "B never sees A's directory", func() bool {
		return fmt.Sprint(fileTree(t, b.MP)) == fmt.Sprint(base)
	})

	proxy.down()
	renamer, editor := atA, atB
	if offlineRenames {
		renamer, editor = atB, atA
	}
	do := func(what string, fn func() error) {
		t.Helper()
		if err := bounded(t, 20*time.Second, what, fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("rename proj", func() error { return os.Rename(renamer("proj"), renamer("renamed")) })
	do("edit proj/a.txt", func() error { return os.WriteFile(editor("proj/a.txt"), []byte("a, edited\n"), 0o644) })
	do("create proj/new.txt", func() error { return os.WriteFile(editor("proj/new.txt"), []byte("new\n"), 0o644) })
	do("edit proj/sub/c.txt", func() error { return os.WriteFile(editor("proj/sub/c.txt"), []byte("c, edited\n"), 0o644) })
	a.flush()
	proxy.up()

	want := map[string]string{
		"renamed/a.txt": "a, edited\n", "renamed/b.txt": "b\n",
		"renamed/new.txt": "new\n", "renamed/sub/c.txt": "c, edited\n",
	}
	var ta, tb map[string]string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A has %q\nB has %q", ta, tb)
		}
	})
	eventually(t, 90*time.Second, "the devices do not converge on the renamed directory", func() bool {
		mustFerry(t, 2*time.Minute, "flush", b.MP, "--timeout", "90s")
		a.flush()
		mustFerry(t, 30*time.Second, "sync", a.MP)
		mustFerry(t, 30*time.Second, "sync", b.MP)
		ta, tb = fileTree(t, a.MP), fileTree(t, b.MP)
		return fmt.Sprint(ta) == fmt.Sprint(tb) && fmt.Sprint(ta) == fmt.Sprint(want)
	})
	for _, m := range []string{a.MP, b.MP} {
		if _, err := os.Stat(filepath.Join(m, "proj")); !os.IsNotExist(err) {
			t.Errorf("%s/proj is still there after the rename: %v", m, err)
		}
	}
}

// TestE2ETwoDevicesFileVsDirectory: the conflicts table's file-and-
// directory row. While B is offline, A makes a file x and B a directory x
// with a file in it. Once B is back, nothing is lost: B's mkdir finds the
// file in the way, and its directory steps aside to a conflict name with
// what is in it, as a poll that saw the file first would have had it. Both
// devices end up with the same tree, and the bucket holds it.
func TestE2ETwoDevicesFileVsDirectory(t *testing.T) {
	t.Parallel()
	fileVsDirectory(t, "x", "A's file x\n", "in B's directory x\n", func(atA, atB func(string) string) {
		writeFile(t, atA("x"), []byte("A's file x\n"))
	}, func(atA, atB func(string) string) error {
		if err := os.Mkdir(atB("x"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(atB("x/in-b.txt"), []byte("in B's directory x\n"), 0o644)
	})
}

// TestE2ETwoDevicesDirectoryVsFile: the same row the other way round: A
// makes a directory y and B, offline, a file y.
func TestE2ETwoDevicesDirectoryVsFile(t *testing.T) {
	t.Parallel()
	fileVsDirectory(t, "y", "B's file y\n", "in A's directory y\n", func(atA, atB func(string) string) {
		mkdirAll(t, atA("y"))
		writeFile(t, atA("y/in-a.txt"), []byte("in A's directory y\n"))
	}, func(atA, atB func(string) string) error {
		return os.WriteFile(atB("y"), []byte("B's file y\n"), 0o644)
	})
}

// fileVsDirectory runs onA, then with B offline onB, then checks that
// both devices converge on one tree holding every content once, the two
// written at name as name or name (conflict ...), and that the bucket
// holds that tree.
func fileVsDirectory(t *testing.T, name, c1, c2 string, onA func(atA, atB func(string) string), onB func(atA, atB func(string) string) error) {
	f, proxy, a, b := offlinePair(t)
	atA := func(p string) string { return filepath.Join(a.MP, p) }
	atB := func(p string) string { return filepath.Join(b.MP, p) }
	writeFile(t, atA("seen.txt"), []byte("both see this\n"))
	a.flush()
	eventually(t, 30*time.Second, "B never sees A's file", contentIs(atB("seen.txt"), "both see this\n"))

	proxy.down()
	onA(atA, atB)
	a.flush()
	if err := bounded(t, 20*time.Second, "offline on B", func() error { return onB(atA, atB) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "B's status never shows its changes pending while offline", func() bool {
		return ferryStatus(t, b.MP).PendingOps > 0
	})
	proxy.up()

	contents := []string{"both see this\n", c1, c2}
	var ta map[string]string
	took := eventually(t, 90*time.Second, "the devices do not converge on the file and the directory", func() bool {
		mustFerry(t, 2*time.Minute, "flush", b.MP, "--timeout", "90s")
		a.flush()
		mustFerry(t, 30*time.Second, "sync", a.MP)
		mustFerry(t, 30*time.Second, "sync", b.MP)
		ta = fileTree(t, a.MP)
		if fmt.Sprint(ta) != fmt.Sprint(fileTree(t, b.MP)) || len(ta) != len(contents) {
			return false
		}
		got := values(ta)
		for _, c := range contents {
			if !slices.Contains(got, c) {
				return false
			}
		}
		return true
	})
	t.Logf("converged %v after B came back: %q", took.Round(time.Millisecond), ta)
	for p, c := range ta {
		if (c == c1 || c == c2) && p != name && !strings.HasPrefix(p, name+"/") && !strings.HasPrefix(p, name+" (conflict ") {
			t.Errorf("%q holds %q: want it at or below %s, or %s (conflict ...)", p, c, name, name)
		}
	}
	for _, m := range []*ferryMount{a, b} {
		if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 {
			t.Errorf("%s: status %+v, want nothing pending or failed", m.MP, st)
		}
	}
	f.compareBucket(t, a.MP, "", compareOpts{})
	a.unmount()
	b.unmount()
}
