package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// foreignSetup puts a few objects in a fresh bucket, as another tool
// would, and mounts it with flags (the first mount imports them). It reads
// edit.txt, so that its content is in the cache when it changes.
func foreignSetup(t *testing.T, flags ...string) (*s3Fixture, *ferryMount) {
	t.Helper()
	f := newS3(t)
	f.putObject(t, "keep.txt", "kept\n")
	f.putObject(t, "edit.txt", "before\n")
	f.putObject(t, "gone.txt", "to be deleted\n")
	f.putObject(t, "dir/old.txt", "old\n")
	m := f.mount(t, f.dirs(t), append([]string{"--write-back", "100ms"}, flags...)...)
	for p, want := range map[string]string{"keep.txt": "kept\n", "edit.txt": "before\n", "gone.txt": "to be deleted\n", "dir/old.txt": "old\n"} {
		if !contentIs(filepath.Join(m.MP, p), want)() {
			t.Fatalf("the first mount does not show %s with its content", p)
		}
	}
	return f, m
}

// foreignChanges changes the bucket behind ferry's back: a new file, a
// new file in new directories, an overwrite of a cached file, and two
// deletes (one emptying a directory).
func foreignChanges(t *testing.T, f *s3Fixture) {
	t.Helper()
	f.putObject(t, "new.txt", "new from another tool\n")
	f.putObject(t, "newdir/deep/n.txt", "deep\n")
	f.putObject(t, "edit.txt", "after, longer than before\n")
	f.deleteObject(t, "gone.txt")
	f.deleteObject(t, "dir/old.txt")
}

// foreignApplied reports whether the mount at mp shows foreignChanges.
func foreignApplied(mp string) func() bool {
	at := func(p string) string { return filepath.Join(mp, p) }
	return func() bool {
		return contentIs(at("new.txt"), "new from another tool\n")() &&
			contentIs(at("newdir/deep/n.txt"), "deep\n")() &&
			contentIs(at("edit.txt"), "after, longer than before\n")() &&
			gone(at("gone.txt"))() && gone(at("dir/old.txt"))() &&
			contentIs(at("keep.txt"), "kept\n")()
	}
}

// foreignStillWorks checks that the mount goes on working after the
// changes: a local write reaches the bucket, nothing else is uploaded,
// and nothing is pending or failed.
func foreignStillWorks(t *testing.T, f *s3Fixture, m *ferryMount) {
	t.Helper()
	writeFile(t, filepath.Join(m.MP, "newdir/local.txt"), []byte("local\n"))
	m.flush()
	if !f.objectIs(t, "newdir/local.txt", "local\n") {
		t.Errorf("a file written after the rescan did not reach the bucket")
	}
	st := ferryStatus(t, m.MP)
	if st.PendingOps != 0 || st.FailedOps != 0 || st.Conflicts != 0 {
		t.Errorf("status %+v, want nothing pending, failed or in conflict", st)
	}
	// The foreign changes came from the bucket: none of them goes back up.
	if !f.objectIs(t, "edit.txt", "after, longer than before\n") || f.hasKey(t, "gone.txt") || f.hasKey(t, "dir/old.txt") {
		t.Errorf("the bucket changed after the rescan: %q", f.keys(t, ""))
	}
	// The journal holds the local write, and nothing for the remote changes.
	for _, op := range journalOps(t, m.MP, "--state", "all") {
		if op["path"] != "newdir/local.txt" {
			t.Errorf("journal op %v: the remote changes must not be journaled for upload", op)
		}
	}
}

// TestE2ES3ForeignRescan: objects put, overwritten and deleted in the
// bucket by another tool show in the mount after `ferry sync --rescan`.
func TestE2ES3ForeignRescan(t *testing.T) {
	t.Parallel()
	f, m := foreignSetup(t, "--rescan-interval", "0", "--poll-interval", "1s")
	// An open file keeps reading what it opened.
	open, err := os.Open(filepath.Join(m.MP, "edit.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	foreignChanges(t, f)
	mustFerry(t, 60*time.Second, "sync", "--rescan", m.MP)
	took := eventually(t, 5*time.Second, "the mount does not show the bucket's changes after ferry sync --rescan", foreignApplied(m.MP))
	t.Logf("changes shown %v after ferry sync --rescan returned", took.Round(time.Millisecond))
	buf := make([]byte, 64)
	if n, err := open.ReadAt(buf, 0); string(buf[:n]) != "before\n" {
		t.Errorf("edit.txt opened before the change reads %q (%v), want what it opened: \"before\\n\"", buf[:n], err)
	}
	open.Close()
	if st := ferryStatus(t, m.MP); st.LastRescan.IsZero() {
		t.Errorf("status shows no last_rescan after ferry sync --rescan: %+v", st)
	}
	if _, err := os.Lstat(filepath.Join(m.MP, "dir")); err != nil {
		t.Logf("dir/, emptied by the delete of its only object, is gone from the mount: %v", err)
	}
	foreignStillWorks(t, f, m)
	m.unmount()
}

// TestE2ES3ForeignRescanInterval: with --rescan-interval 2s the same
// changes show by themselves.
func TestE2ES3ForeignRescanInterval(t *testing.T) {
	t.Parallel()
	f, m := foreignSetup(t, "--rescan-interval", "2s", "--poll-interval", "500ms")
	foreignChanges(t, f)
	took := eventually(t, 20*time.Second, "the mount does not show the bucket's changes with --rescan-interval 2s", foreignApplied(m.MP))
	t.Logf("changes shown %v after they were made", took.Round(time.Millisecond))
	// And again: the rescans keep running.
	f.putObject(t, "second.txt", "second round\n")
	f.deleteObject(t, "keep.txt")
	eventually(t, 20*time.Second, "a second round of changes does not show", func() bool {
		return contentIs(filepath.Join(m.MP, "second.txt"), "second round\n")() && gone(filepath.Join(m.MP, "keep.txt"))()
	})
	writeFile(t, filepath.Join(m.MP, "newdir/local.txt"), []byte("local\n"))
	m.flush()
	if !f.objectIs(t, "newdir/local.txt", "local\n") {
		t.Errorf("a file written after the rescans did not reach the bucket")
	}
	if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 {
		t.Errorf("status %+v, want nothing pending or failed", st)
	}
	m.unmount()
}

// TestE2ES3ForeignEditVsLocalEdit: a file edited locally, not yet
// uploaded, is overwritten in the bucket by another tool; the rescan sees
// both changed: the remote version keeps the name, the local one becomes a
// conflict copy, and both end up in the bucket.
func TestE2ES3ForeignEditVsLocalEdit(t *testing.T) {
	t.Parallel()
	f, m := foreignSetup(t, "--rescan-interval", "0", "--poll-interval", "1s", "--write-back", "1h")
	writeFile(t, filepath.Join(m.MP, "edit.txt"), []byte("local edit\n"))
	f.putObject(t, "edit.txt", "foreign edit\n")
	mustFerry(t, 60*time.Second, "sync", "--rescan", m.MP)
	m.flush()
	// The conflict copy may be made at the rescan or when the upload is
	// refused; either way, once flushed, both versions are everywhere.
	var names map[string]string
	eventually(t, 30*time.Second, "the local and the foreign edit do not both survive", func() bool {
		m.flush()
		names = dirContents(t, m.MP)
		copies := 0
		for n, c := range names {
			if strings.HasPrefix(n, "edit (conflict ") && c == "local edit\n" {
				copies++
			}
		}
		return names["edit.txt"] == "foreign edit\n" && copies == 1
	})
	t.Logf("mount: %q", names)
	if !f.objectIs(t, "edit.txt", "foreign edit\n") {
		t.Errorf("the foreign edit is no longer in the bucket")
	}
	found := false
	for _, k := range f.keys(t, "") {
		if strings.HasPrefix(k, "edit (conflict ") && f.objectIs(t, k, "local edit\n") {
			found = true
		}
	}
	if !found {
		t.Errorf("the local edit's conflict copy is not in the bucket: %q", f.keys(t, ""))
	}
	m.unmount()
}
