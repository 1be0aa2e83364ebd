package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2ES3ModeDownload: --mode download mounts read-only: every write
// fails with EROFS, nothing goes up; and the mount follows what another
// device changes in the bucket.
func TestE2ES3ModeDownload(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	a := f.mount(t, f.dirs(t), "--write-back", "100ms", "--poll-interval", "1s", "--device-name", "devA")
	writeFile(t, filepath.Join(a.MP, "pre.txt"), []byte("before the download mount\n"))
	a.flush()
	dl := f.mount(t, f.dirs(t), "--mode", "download", "--poll-interval", "500ms", "--device-name", "devD")
	at := func(p string) string { return filepath.Join(dl.MP, p) }
	eventually(t, 10*time.Second, "the download mount does not show pre.txt", contentIs(at("pre.txt"), "before the download mount\n"))

	// Read-only, whatever the call.
	wantErrno(t, "create", os.WriteFile(at("new.txt"), []byte("x"), 0o644), syscall.EROFS)
	_, err := os.OpenFile(at("pre.txt"), os.O_WRONLY, 0)
	wantErrno(t, "open for writing", err, syscall.EROFS)
	wantErrno(t, "truncate", os.Truncate(at("pre.txt"), 0), syscall.EROFS)
	wantErrno(t, "mkdir", os.Mkdir(at("dir"), 0o755), syscall.EROFS)
	wantErrno(t, "unlink", os.Remove(at("pre.txt")), syscall.EROFS)
	wantErrno(t, "rename", os.Rename(at("pre.txt"), at("moved.txt")), syscall.EROFS)
	wantErrno(t, "chmod", os.Chmod(at("pre.txt"), 0o600), syscall.EROFS)
	wantErrno(t, "symlink", os.Symlink("pre.txt", at("link")), syscall.EROFS)
	if !contentIs(at("pre.txt"), "before the download mount\n")() {
		t.Errorf("pre.txt changed after the refused writes")
	}

	// It follows A: a new file in a new directory, an edit, a delete.
	mkdirAll(t, filepath.Join(a.MP, "sub"))
	writeFile(t, filepath.Join(a.MP, "sub/new.txt"), []byte("new on A\n"))
	writeFile(t, filepath.Join(a.MP, "pre.txt"), []byte("edited on A\n"))
	a.flush()
	eventually(t, 30*time.Second, "the download mount does not follow A's new file and edit", func() bool {
		return contentIs(at("sub/new.txt"), "new on A\n")() && contentIs(at("pre.txt"), "edited on A\n")()
	})
	remove(t, filepath.Join(a.MP, "sub/new.txt"))
	rename(t, filepath.Join(a.MP, "pre.txt"), filepath.Join(a.MP, "renamed.txt"))
	a.flush()
	eventually(t, 30*time.Second, "the download mount does not follow A's delete and rename", func() bool {
		return gone(at("sub/new.txt"))() && gone(at("pre.txt"))() && contentIs(at("renamed.txt"), "edited on A\n")()
	})

	// Nothing went up from the download mount.
	st := ferryStatus(t, dl.MP)
	if st.PendingOps != 0 || st.UploadedOps != 0 || st.FailedOps != 0 {
		t.Errorf("the download mount's status %+v: want nothing pending, uploaded or failed", st)
	}
	// Nor did it clean anything up there: that is for the devices that
	// write (trash purge, abandoned multipart uploads).
	for _, op := range []string{"PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "ListMultipartUploads", "AbortMultipartUpload"} {
		if n := st.RemoteRequests[op]; n != 0 {
			t.Errorf("the download mount sent %d %s requests, want none", n, op)
		}
	}
	if ops := journalOps(t, dl.MP, "--state", "all"); len(ops) != 0 {
		t.Errorf("the download mount journaled %d ops, want none: %v", len(ops), ops)
	}
	for _, k := range f.keys(t, ".ferry/log/") {
		if strings.Contains(k, "devD") {
			t.Errorf("the download mount wrote the change log object %s", k)
		}
	}
	a.unmount()
	dl.unmount()
}

// TestE2ES3ModeUpload: --mode upload is a one-way backup. Local changes go
// up; a change another device makes in the bucket does not touch the local
// file, and a new remote file is not pulled; a file the backup holds and
// another device deletes goes up again at the next rescan; a local delete stays local unless
// --upload-deletes, which deletes the object (into the recycle bin).
func TestE2ES3ModeUpload(t *testing.T) {
	t.Parallel()
	for _, uploadDeletes := range []bool{false, true} {
		name := "keep-deletes"
		if uploadDeletes {
			name = "upload-deletes"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newS3(t)
			a := f.mount(t, f.dirs(t), "--write-back", "100ms", "--poll-interval", "500ms", "--device-name", "devA")
			flags := []string{"--mode", "upload", "--write-back", "100ms", "--poll-interval", "500ms", "--device-name", "devU"}
			if uploadDeletes {
				flags = append(flags, "--upload-deletes")
			}
			u := f.mount(t, f.dirs(t), flags...)
			atU := func(p string) string { return filepath.Join(u.MP, p) }
			atA := func(p string) string { return filepath.Join(a.MP, p) }

			// Local changes go up.
			mkdirAll(t, atU("docs"))
			writeFile(t, atU("docs/mine.txt"), []byte("U's version\n"))
			writeFile(t, atU("docs/doomed.txt"), []byte("to be deleted on U\n"))
			writeFile(t, atU("backup.txt"), []byte("backed up by U\n"))
			u.flush()
			for k, want := range map[string]string{"docs/mine.txt": "U's version\n", "docs/doomed.txt": "to be deleted on U\n", "backup.txt": "backed up by U\n"} {
				if !f.objectIs(t, k, want) {
					t.Errorf("%s did not go up from the upload mount", k)
				}
			}
			eventually(t, 30*time.Second, "A does not see U's files", func() bool {
				return contentIs(atA("docs/mine.txt"), "U's version\n")() && contentIs(atA("backup.txt"), "backed up by U\n")()
			})

			// Remote changes by A: an edit, a new file, a delete of a file
			// U backed up.
			writeFile(t, atA("docs/mine.txt"), []byte("A's edit\n"))
			writeFile(t, atA("from-a.txt"), []byte("made on A\n"))
			remove(t, atA("backup.txt"))
			a.flush()
			if !f.objectIs(t, "docs/mine.txt", "A's edit\n") {
				t.Fatalf("A's edit did not reach the bucket")
			}
			// Several polls and a rescan later, U's files are as U left
			// them, and the deleted backup went up again.
			mustFerry(t, 30*time.Second, "sync", u.MP)
			time.Sleep(time.Second)
			mustFerry(t, 60*time.Second, "sync", "--rescan", u.MP)
			u.flush()
			if !f.objectIs(t, "backup.txt", "backed up by U\n") {
				t.Errorf("after a rescan of U, backup.txt (deleted on A) is not uploaded again: %q", f.keys(t, ""))
			}
			if !contentIs(atU("docs/mine.txt"), "U's version\n")() {
				b, err := os.ReadFile(atU("docs/mine.txt"))
				t.Errorf("U's docs/mine.txt is %q (%v) after A's edit; want it untouched", b, err)
			}
			if _, err := os.Lstat(atU("from-a.txt")); !os.IsNotExist(err) {
				t.Errorf("the upload mount pulled from-a.txt, made on A (%v)", err)
			}
			if !contentIs(atU("backup.txt"), "backed up by U\n")() {
				t.Errorf("U's backup.txt changed after A deleted it")
			}

			// A local delete.
			remove(t, atU("docs/doomed.txt"))
			u.flush()
			if uploadDeletes {
				if f.hasKey(t, "docs/doomed.txt") {
					t.Errorf("with --upload-deletes, docs/doomed.txt deleted on U is still in the bucket")
				}
				if trash := f.keys(t, ".ferry/trash/"); len(trash) == 0 || !strings.HasSuffix(trash[len(trash)-1], "/docs/doomed.txt") {
					t.Errorf("with --upload-deletes, docs/doomed.txt is not in the recycle bin: %q", trash)
				}
				eventually(t, 30*time.Second, "A still has docs/doomed.txt, deleted on U with --upload-deletes", gone(atA("docs/doomed.txt")))
			} else {
				if !f.objectIs(t, "docs/doomed.txt", "to be deleted on U\n") {
					t.Errorf("without --upload-deletes, docs/doomed.txt deleted on U is gone from the bucket: %q", f.keys(t, ""))
				}
				mustFerry(t, 30*time.Second, "sync", a.MP)
				if !contentIs(atA("docs/doomed.txt"), "to be deleted on U\n")() {
					t.Errorf("A lost docs/doomed.txt, deleted on U without --upload-deletes")
				}
			}
			st := ferryStatus(t, u.MP)
			if st.PendingOps != 0 || st.FailedOps != 0 {
				t.Errorf("the upload mount's status %+v: want nothing pending or failed", st)
			}
			if !f.objectIs(t, "docs/mine.txt", "A's edit\n") {
				t.Errorf("A's edit of docs/mine.txt is no longer in the bucket")
			}
			a.unmount()
			u.unmount()
		})
	}
}
