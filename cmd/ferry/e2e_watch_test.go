package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestE2EWatchFolder: on a folder remote, changes that other programs make
// in the folder show in the mount by themselves, with polling and rescans
// all but off: the mount watches the folder.
func TestE2EWatchFolder(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--poll-interval", "1h", "--rescan-interval", "0")
	in := func(p string) string { return filepath.Join(d.Remote, p) }
	at := func(p string) string { return filepath.Join(m.MP, p) }
	const wait = 20 * time.Second

	writeFile(t, in("new.txt"), []byte("made by another program\n"))
	eventually(t, wait, "a file made in the folder does not show", contentIs(at("new.txt"), "made by another program\n"))

	// Replaced the way editors save: a temp file renamed over it.
	writeFile(t, in(".new.txt.swp"), []byte("saved again, longer than before\n"))
	if err := os.Rename(in(".new.txt.swp"), in("new.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "a file replaced in the folder does not change", contentIs(at("new.txt"), "saved again, longer than before\n"))

	// A whole tree at once: most of it is there before a watch on its
	// directories can be.
	mkdirAll(t, in("tree/a/b"))
	writeFile(t, in("tree/a/b/deep.txt"), []byte("deep\n"))
	writeFile(t, in("tree/top.txt"), []byte("top\n"))
	eventually(t, wait, "a tree made in the folder does not show", func() bool {
		return contentIs(at("tree/a/b/deep.txt"), "deep\n")() && contentIs(at("tree/top.txt"), "top\n")()
	})

	if err := os.Remove(in("new.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "a file deleted in the folder stays", gone(at("new.txt")))
	if err := os.RemoveAll(in("tree")); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "a tree deleted in the folder stays", gone(at("tree")))

	// ferry's own uploads come back as events too: they must not look like
	// someone else's change.
	writeFile(t, at("mine.txt"), []byte("written through the mount\n"))
	m.flush()
	time.Sleep(time.Second)
	if names := dirContents(t, m.MP); len(names) != 1 || names["mine.txt"] != "written through the mount\n" {
		t.Errorf("after an upload of its own, the mount shows %v", names)
	}
	if st := ferryStatus(t, m.MP); st.Conflicts != 0 || !st.Watching {
		t.Errorf("status: %d conflicts, watching %v; want 0, true", st.Conflicts, st.Watching)
	}
	m.unmount()
}

// TestE2EWatchFolderTwoDevices: two mounts of one folder see each other's
// changes at once, though neither polls on its own.
func TestE2EWatchFolderTwoDevices(t *testing.T) {
	t.Parallel()
	da, db := newMountDirs(t), newMountDirs(t)
	db.Remote = da.Remote
	flags := []string{"--write-back", "100ms", "--poll-interval", "1h", "--rescan-interval", "0"}
	a := startMount(t, da, append(flags, "--device-name", "devA")...)
	b := startMount(t, db, append(flags, "--device-name", "devB")...)
	writeFile(t, filepath.Join(a.MP, "hello.txt"), []byte("from A\n"))
	a.flush()
	eventually(t, 20*time.Second, "B never sees A's file", contentIs(filepath.Join(b.MP, "hello.txt"), "from A\n"))
	if err := os.Rename(filepath.Join(b.MP, "hello.txt"), filepath.Join(b.MP, "moved.txt")); err != nil {
		t.Fatal(err)
	}
	b.flush()
	eventually(t, 20*time.Second, "A never sees B's rename", func() bool {
		return gone(filepath.Join(a.MP, "hello.txt"))() && contentIs(filepath.Join(a.MP, "moved.txt"), "from A\n")()
	})
	a.unmount()
	b.unmount()
}
