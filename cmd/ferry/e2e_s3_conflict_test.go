package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ES3Conflict: someone else (rclone) replaces a file ferry
// uploaded; ferry's next upload of a local edit finds the new version and
// never overwrites it. Both are kept: the remote version keeps the name,
// the local edit becomes a conflict copy that is uploaded too, and
// `ferry conflicts` lists it. Other files upload as usual.
func TestE2ES3Conflict(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms", "--device-name", "laptop")
	writeFile(t, filepath.Join(m.MP, "notes.txt"), []byte("version 1, from ferry\n"))
	writeFile(t, filepath.Join(m.MP, "other.txt"), []byte("other 1\n"))
	m.flush()

	theirs := filepath.Join(t.TempDir(), "notes.txt")
	const theirContent = "version 2, from rclone on another machine\n"
	writeFile(t, theirs, []byte(theirContent))
	f.rclone(t, "copyto", theirs, "m:"+f.bucket+"/notes.txt")

	// Edited through the mount, from the version ferry knows.
	mine := "version 1, from ferry\nand a local edit\n"
	writeFile(t, filepath.Join(m.MP, "notes.txt"), []byte(mine))
	writeFile(t, filepath.Join(m.MP, "other.txt"), []byte("other 2\n"))
	m.flush()

	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/notes.txt")); got != theirContent {
		t.Errorf("the bucket's notes.txt = %q, want rclone's version, untouched", got)
	}
	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/other.txt")); got != "other 2\n" {
		t.Errorf("the bucket's other.txt = %q, want the edit through the mount", got)
	}
	out := mustFerry(t, 30*time.Second, "conflicts", m.MP).stdout
	copies := strings.Fields(strings.ReplaceAll(out, " ", "_"))
	if len(copies) != 1 || !strings.HasPrefix(copies[0], "notes_(conflict_") || !strings.HasSuffix(copies[0], "_laptop).txt") {
		t.Fatalf("ferry conflicts = %q, want one 'notes (conflict DATE TIME laptop).txt'", out)
	}
	copyName := strings.TrimSpace(out)
	if got, err := os.ReadFile(filepath.Join(m.MP, copyName)); err != nil || string(got) != mine {
		t.Errorf("the mount's %s = %q (%v), want the local edit", copyName, got, err)
	}
	if got, err := os.ReadFile(filepath.Join(m.MP, "notes.txt")); err != nil || string(got) != theirContent {
		t.Errorf("the mount's notes.txt = %q (%v), want the remote version", got, err)
	}
	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/"+copyName)); got != mine {
		t.Errorf("the bucket's %s = %q, want the local edit", copyName, got)
	}
	if st := ferryStatus(t, m.MP); st.Conflicts != 1 {
		t.Errorf("ferry status after a conflict: conflicts = %d, want 1", st.Conflicts)
	}
	m.unmount()
}

// TestE2ES3ConflictAfterMetadataChange: someone else (rclone) replaces a
// file ferry uploaded; then the mount changes only the file's metadata
// (mtime, mode) or its name. ferry must never overwrite the other version
// with its older content: the flush succeeds and the mount shows their
// version (under the new name after a rename). An edit made after that is
// an ordinary edit of their version.
func TestE2ES3ConflictAfterMetadataChange(t *testing.T) {
	t.Parallel()
	srv := newS3(t).srv
	cases := []struct {
		name  string
		final string // where the file is in the mount at the end
		touch func(t *testing.T, p string)
	}{
		{"chtimes", "notes.txt", func(t *testing.T, p string) {
			if err := os.Chtimes(p, time.Unix(1700000000, 0), time.Unix(1700000000, 0)); err != nil {
				t.Fatal(err)
			}
		}},
		{"chmod", "notes.txt", func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"rename", "renamed.txt", func(t *testing.T, p string) {
			rename(t, p, filepath.Join(filepath.Dir(p), "renamed.txt"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &s3Fixture{srv: srv, bucket: srv.NewBucket(t)}
			d := f.dirs(t)
			m := f.mount(t, d, "--write-back", "100ms")
			writeFile(t, filepath.Join(m.MP, "notes.txt"), []byte("version 1, from ferry\n"))
			m.flush()

			theirs := filepath.Join(t.TempDir(), "notes.txt")
			writeFile(t, theirs, []byte("version 2, from rclone\n"))
			f.rclone(t, "copyto", theirs, "m:"+f.bucket+"/notes.txt")

			c.touch(t, filepath.Join(m.MP, "notes.txt"))
			m.flush()
			if got, err := os.ReadFile(filepath.Join(m.MP, c.final)); err != nil || string(got) != "version 2, from rclone\n" {
				t.Errorf("after the %s and a flush, the mount's %s = %q (%v), want rclone's version", c.name, c.final, got, err)
			}
			found := false
			for _, k := range f.keys(t, "") {
				if b, _, err := f.getObject(ctxFor(t, time.Minute), k); err == nil && string(b) == "version 2, from rclone\n" {
					found = true
				}
			}
			if !found {
				t.Errorf("rclone's version is gone from the bucket (keys %q): ferry overwrote it", f.keys(t, ""))
			}
			writeFile(t, filepath.Join(m.MP, c.final), []byte("version 3, from ferry\n"))
			m.flush()
			if b, _, err := f.getObject(ctxFor(t, time.Minute), c.final); err != nil || string(b) != "version 3, from ferry\n" {
				t.Errorf("the bucket's %s after an edit = %q (%v), want the edit", c.final, b, err)
			}
			m.unmount()
		})
	}
}
