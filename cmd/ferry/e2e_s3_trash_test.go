package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestE2ES3Trash: a file deleted through the mount, once uploaded, goes
// to the bucket's recycle bin under .ferry/trash/<date>/<path>; `ferry
// trash ls` lists it, `ferry trash restore` brings it back to the bucket
// and to the mount with the same content, and `ferry trash empty` deletes
// the recycle bin for good.
func TestE2ES3Trash(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	m := f.mount(t, f.dirs(t), "--write-back", "100ms", "--poll-interval", "1s", "--rescan-interval", "0")
	const body = "the quarterly report\n"
	mkdirAll(t, filepath.Join(m.MP, "docs"))
	writeFile(t, filepath.Join(m.MP, "docs/report.txt"), []byte(body))
	writeFile(t, filepath.Join(m.MP, "other.txt"), []byte("other\n"))
	m.flush()
	if !f.objectIs(t, "docs/report.txt", body) {
		t.Fatalf("docs/report.txt is not in the bucket after flush: %q", f.keys(t, ""))
	}

	dayBefore := utcDay()
	remove(t, filepath.Join(m.MP, "docs/report.txt"))
	m.flush()
	days := []string{dayBefore, utcDay()} // the same, unless midnight UTC passed

	// The bucket: gone from its place, kept in the recycle bin.
	if f.hasKey(t, "docs/report.txt") {
		t.Errorf("docs/report.txt is still in the bucket after the delete was flushed")
	}
	trashKey := ""
	for _, d := range days {
		if k := ".ferry/trash/" + d + "/docs/report.txt"; f.hasKey(t, k) {
			trashKey = k
		}
	}
	if trashKey == "" {
		t.Fatalf("no .ferry/trash/%s/docs/report.txt in the bucket: %q", dayBefore, f.keys(t, ""))
	}
	if !f.objectIs(t, trashKey, body) {
		t.Errorf("%s does not hold the deleted file's content", trashKey)
	}

	// ferry trash ls lists it, with its date and size.
	ls := trashLs(t, m.MP)
	t.Logf("ferry trash ls: %+v", ls)
	got := findTrash(ls, "docs/report.txt")
	if len(got) != 1 || !slices.Contains(days, got[0].Date) || got[0].Size != int64(len(body)) {
		t.Errorf("ferry trash ls: docs/report.txt listed as %+v, want one entry of %d bytes dated %s", got, len(body), dayBefore)
	}
	if len(findTrash(ls, "other.txt")) != 0 {
		t.Errorf("ferry trash ls lists other.txt, which was never deleted: %+v", ls)
	}

	// Restoring a path the recycle bin does not hold fails.
	if r := ferry(t, 30*time.Second, "trash", "restore", m.MP, "never/was.txt"); r.code == 0 {
		t.Errorf("ferry trash restore of a path not in the recycle bin exits 0: %s", r)
	}

	// Restore: back in the bucket, out of the recycle bin, and (after the
	// rescan restore runs) back in the mount.
	mustFerry(t, 60*time.Second, "trash", "restore", m.MP, "docs/report.txt")
	if !f.objectIs(t, "docs/report.txt", body) {
		t.Errorf("after ferry trash restore, docs/report.txt is not in the bucket with its content: %q", f.keys(t, ""))
	}
	if f.hasKey(t, trashKey) {
		t.Errorf("after ferry trash restore, %s is still in the recycle bin", trashKey)
	}
	eventually(t, 10*time.Second, "the restored file does not come back to the mount",
		contentIs(filepath.Join(m.MP, "docs/report.txt"), body))
	if ls := trashLs(t, m.MP); len(findTrash(ls, "docs/report.txt")) != 0 {
		t.Errorf("ferry trash ls still lists docs/report.txt after its restore: %+v", ls)
	}
	// The restored file is one the mount knows as uploaded: nothing to
	// upload, and it can be edited and deleted again like any file.
	m.flush()
	if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 {
		t.Errorf("after the restore: status %+v, want nothing pending or failed", st)
	}
	writeFile(t, filepath.Join(m.MP, "docs/report.txt"), []byte(body+"edited\n"))
	m.flush()
	if !f.objectIs(t, "docs/report.txt", body+"edited\n") {
		t.Errorf("an edit of the restored file did not reach the bucket")
	}

	// A whole directory removed: each of its files goes to the recycle
	// bin. Then empty the recycle bin for good.
	writeFile(t, filepath.Join(m.MP, "docs/second.txt"), []byte("second\n"))
	m.flush()
	if err := os.RemoveAll(filepath.Join(m.MP, "docs")); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(m.MP, "other.txt"))
	m.flush()
	ls = trashLs(t, m.MP)
	for _, p := range []string{"docs/report.txt", "docs/second.txt", "other.txt"} {
		if len(findTrash(ls, p)) != 1 {
			t.Errorf("ferry trash ls after rm -r docs and rm other.txt: %+v, want %s listed once", ls, p)
		}
	}
	r := mustFerry(t, 60*time.Second, "trash", "empty", m.MP)
	t.Logf("ferry trash empty: %s", strings.TrimSpace(r.stdout))
	if ls := trashLs(t, m.MP); len(ls) != 0 {
		t.Errorf("ferry trash ls after ferry trash empty: %+v, want nothing", ls)
	}
	if keys := f.keys(t, ".ferry/trash/"); len(keys) != 0 {
		t.Errorf("the bucket still holds trash after ferry trash empty: %q", keys)
	}
	if keys := f.keys(t, ""); slices.ContainsFunc(keys, func(k string) bool { return !strings.HasPrefix(k, ".ferry/") && !strings.HasSuffix(k, "/") }) {
		t.Errorf("files left in the bucket after deleting them all: %q", keys)
	}
	m.unmount()
}

// TestE2EFolderTrash: on the local-folder backend, a deleted file lands in
// REMOTE/.ferry/trash/<date>/<path>, and ferry trash ls, restore and empty
// manage it as on S3.
func TestE2EFolderTrash(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "100ms", "--rescan-interval", "0")
	body := []byte("a letter kept in the folder\n")
	mkdirAll(t, filepath.Join(m.MP, "sub/deep"))
	writeFile(t, filepath.Join(m.MP, "sub/deep/letter.txt"), body)
	m.flush()
	if b, err := os.ReadFile(filepath.Join(d.Remote, "sub/deep/letter.txt")); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("the remote folder does not hold sub/deep/letter.txt after flush: %q, %v", b, err)
	}

	dayBefore := utcDay()
	remove(t, filepath.Join(m.MP, "sub/deep/letter.txt"))
	m.flush()
	if _, err := os.Lstat(filepath.Join(d.Remote, "sub/deep/letter.txt")); !os.IsNotExist(err) {
		t.Errorf("sub/deep/letter.txt is still in the remote folder after the delete was flushed (%v)", err)
	}
	var trashed string
	for _, day := range []string{dayBefore, utcDay()} {
		p := filepath.Join(d.Remote, ".ferry", "trash", day, "sub", "deep", "letter.txt")
		if _, err := os.Lstat(p); err == nil {
			trashed = p
		}
	}
	if trashed == "" {
		t.Fatalf("no .ferry/trash/%s/sub/deep/letter.txt in the remote folder; it holds:\n%v", dayBefore, regularFiles(t, d.Remote))
	}
	if b, err := os.ReadFile(trashed); err != nil || !bytes.Equal(b, body) {
		t.Errorf("%s holds %q (%v), want the deleted file's content", trashed, b, err)
	}
	if _, err := os.Lstat(filepath.Join(m.MP, ".ferry")); !os.IsNotExist(err) {
		t.Errorf(".ferry shows in the mount (%v)", err)
	}

	if got := findTrash(trashLs(t, m.MP), "sub/deep/letter.txt"); len(got) != 1 || got[0].Size != int64(len(body)) {
		t.Errorf("ferry trash ls: sub/deep/letter.txt listed as %+v, want one entry of %d bytes", got, len(body))
	}
	mustFerry(t, 60*time.Second, "trash", "restore", m.MP, "sub/deep/letter.txt")
	if b, err := os.ReadFile(filepath.Join(d.Remote, "sub/deep/letter.txt")); err != nil || !bytes.Equal(b, body) {
		t.Errorf("after ferry trash restore, the remote folder's sub/deep/letter.txt is %q (%v)", b, err)
	}
	eventually(t, 10*time.Second, "the restored file does not come back to the mount",
		contentIs(filepath.Join(m.MP, "sub/deep/letter.txt"), string(body)))

	remove(t, filepath.Join(m.MP, "sub/deep/letter.txt"))
	m.flush()
	if len(trashLs(t, m.MP)) != 1 {
		t.Errorf("ferry trash ls after the second delete: want one entry")
	}
	mustFerry(t, 60*time.Second, "trash", "empty", m.MP)
	if ls := trashLs(t, m.MP); len(ls) != 0 {
		t.Errorf("ferry trash ls after ferry trash empty: %+v", ls)
	}
	if left := regularFiles(t, filepath.Join(d.Remote, ".ferry")); len(left) != 0 {
		for p := range left {
			if strings.HasPrefix(p, "trash/") {
				t.Errorf("the remote folder still holds .ferry/%s after ferry trash empty", p)
			}
		}
	}
	m.unmount()
}

// TestE2ES3TrashRestoreOccupied: restoring a path that holds a new file
// fails, and neither the new file nor the trashed copy is lost.
func TestE2ES3TrashRestoreOccupied(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	m := f.mount(t, f.dirs(t), "--write-back", "100ms", "--rescan-interval", "0")
	p := filepath.Join(m.MP, "name.txt")
	writeFile(t, p, []byte("old\n"))
	m.flush()
	remove(t, p)
	m.flush()
	writeFile(t, p, []byte("new file, same name\n"))
	m.flush()
	r := ferry(t, 60*time.Second, "trash", "restore", m.MP, "name.txt")
	t.Logf("%s", r)
	if r.code == 0 {
		t.Errorf("ferry trash restore over an existing file exits 0")
	}
	if !f.objectIs(t, "name.txt", "new file, same name\n") {
		t.Errorf("the restore replaced the new file in the bucket")
	}
	if !contentIs(p, "new file, same name\n")() {
		t.Errorf("the restore replaced the new file in the mount")
	}
	if got := findTrash(trashLs(t, m.MP), "name.txt"); len(got) != 1 {
		t.Errorf("the trashed copy is gone after a refused restore: %+v", got)
	}
	m.unmount()
}

// TestE2ES3TrashPurge: at mount, the recycle bin loses what is older than
// --trash-days and keeps the rest.
func TestE2ES3TrashPurge(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	old := ".ferry/trash/" + time.Now().UTC().AddDate(0, 0, -10).Format("2006-01-02") + "/old.txt"
	recent := ".ferry/trash/" + time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02") + "/recent.txt"
	f.putObject(t, old, "deleted 10 days ago\n")
	f.putObject(t, recent, "deleted 2 days ago\n")
	f.putObject(t, "live.txt", "live\n")
	m := f.mount(t, f.dirs(t), "--trash-days", "5", "--rescan-interval", "0")
	eventually(t, 20*time.Second, "the trash older than --trash-days 5 is not purged", func() bool { return !f.hasKey(t, old) })
	if !f.objectIs(t, recent, "deleted 2 days ago\n") {
		t.Errorf("the purge removed %s, younger than --trash-days 5", recent)
	}
	ls := trashLs(t, m.MP)
	if len(findTrash(ls, "recent.txt")) != 1 || len(findTrash(ls, "old.txt")) != 0 {
		t.Errorf("ferry trash ls after the purge: %+v, want recent.txt only", ls)
	}
	if !contentIs(filepath.Join(m.MP, "live.txt"), "live\n")() {
		t.Errorf("live.txt is not in the mount")
	}
	m.unmount()
}

// TestE2ETrashRestoreTree: on S3 and on a folder, a file restored into a
// directory that was removed meanwhile brings its directories back, and a
// deleted symlink comes back as a symlink.
func TestE2ETrashRestoreTree(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"s3", "folder"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var m *ferryMount
			flags := []string{"--write-back", "100ms", "--rescan-interval", "0"}
			if backend == "s3" {
				f := newS3(t)
				m = f.mount(t, f.dirs(t), flags...)
			} else {
				m = startMount(t, newMountDirs(t), flags...)
			}
			at := func(p string) string { return filepath.Join(m.MP, p) }
			mkdirAll(t, at("docs/sub"))
			writeFile(t, at("docs/sub/r.txt"), []byte("r\n"))
			if err := os.Symlink("docs/sub/r.txt", at("link")); err != nil {
				t.Fatal(err)
			}
			m.flush()
			if err := os.RemoveAll(at("docs")); err != nil {
				t.Fatal(err)
			}
			remove(t, at("link"))
			m.flush()
			ls := trashLs(t, m.MP)
			if len(findTrash(ls, "docs/sub/r.txt")) != 1 || len(findTrash(ls, "link")) != 1 {
				t.Fatalf("ferry trash ls: %+v, want docs/sub/r.txt and link", ls)
			}
			mustFerry(t, time.Minute, "trash", "restore", m.MP, "docs/sub/r.txt")
			mustFerry(t, time.Minute, "trash", "restore", m.MP, "link")
			eventually(t, 10*time.Second, "the restored file and symlink do not come back", func() bool {
				l, err := os.Readlink(at("link"))
				return contentIs(at("docs/sub/r.txt"), "r\n")() && err == nil && l == "docs/sub/r.txt"
			})
			m.flush()
			if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 {
				t.Errorf("status %+v, want nothing pending or failed", st)
			}
			if ls := trashLs(t, m.MP); len(ls) != 0 {
				t.Errorf("ferry trash ls after both restores: %+v, want nothing", ls)
			}
			m.unmount()
		})
	}
}
