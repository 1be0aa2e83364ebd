package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ES3Conflict: someone else (rclone) replaces a file ferry
// uploaded; ferry's next upload of a local edit finds the new version,
// never overwrites it, and reports a conflict: flush fails naming the
// file, the journal lists it, the bucket keeps rclone's version and the
// mount the local edit. Other files still upload.
func TestE2ES3Conflict(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	expectErrorLog(t, m, "notes.txt")
	writeFile(t, filepath.Join(m.MP, "notes.txt"), []byte("version 1, from ferry\n"))
	writeFile(t, filepath.Join(m.MP, "other.txt"), []byte("other 1\n"))
	m.flush()

	theirs := filepath.Join(t.TempDir(), "notes.txt")
	writeFile(t, theirs, []byte("version 2, from rclone on another machine\n"))
	f.rclone(t, "copyto", theirs, "m:"+f.bucket+"/notes.txt")

	// Edited through the mount, from the version ferry knows.
	mine := []byte("version 1, from ferry\nand a local edit\n")
	writeFile(t, filepath.Join(m.MP, "notes.txt"), mine)
	writeFile(t, filepath.Join(m.MP, "other.txt"), []byte("other 2\n"))

	r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s")
	t.Logf("%s", r)
	if r.code == 0 || r.code == -1 {
		t.Errorf("flush with a conflict: exit %d, want a failure of its own", r.code)
	}
	if !strings.Contains(r.stderr, "notes.txt") || !strings.Contains(r.stderr, "conflict") {
		t.Errorf("flush does not list notes.txt as a conflict: %s", r)
	}
	if strings.Contains(r.stderr, "other.txt") {
		t.Errorf("flush lists other.txt, which nobody else changed: %s", r)
	}
	// The journal command flush points to shows the conflict.
	hinted := false
	for _, state := range []string{"failed", "conflict", "all"} {
		if !strings.Contains(r.stderr, "--state "+state) {
			continue
		}
		hinted = true
		if out := mustFerry(t, 30*time.Second, "journal", m.MP, "--state", state); !strings.Contains(out.stdout, "notes.txt") {
			t.Errorf("flush points to 'ferry journal --state %s', which does not list the conflict:\n%s\nflush said: %s", state, out.stdout, r.stderr)
		}
	}
	if !hinted {
		t.Logf("flush names no 'ferry journal --state' command")
	}

	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/notes.txt")); got != "version 2, from rclone on another machine\n" {
		t.Errorf("the bucket's notes.txt = %q, want rclone's version, untouched", got)
	}
	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/other.txt")); got != "other 2\n" {
		t.Errorf("the bucket's other.txt = %q, want the edit through the mount", got)
	}
	if got, err := os.ReadFile(filepath.Join(m.MP, "notes.txt")); err != nil || string(got) != string(mine) {
		t.Errorf("the mount's notes.txt = %q (%v), want the local edit %q", got, err, mine)
	}

	ops := journalOps(t, m.MP, "--state", "conflict")
	found := false
	for _, op := range ops {
		if op["path"] == "notes.txt" && op["state"] == "conflict" {
			found = true
		} else {
			t.Errorf("ferry journal --state conflict lists %v", op)
		}
	}
	if !found {
		t.Errorf("ferry journal --state conflict does not list notes.txt: %v", ops)
	}
	if st := ferryStatus(t, m.MP); st.FailedOps == 0 {
		t.Errorf("ferry status after a conflict: %+v, want it counted", st)
	}
	// The conflict stays one: a later flush still fails and still does
	// not overwrite.
	if r := ferry(t, time.Minute, "flush", m.MP, "--timeout", "30s"); r.code == 0 {
		t.Errorf("second flush: exit 0, the conflict is forgotten: %s", r)
	}
	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/notes.txt")); got != "version 2, from rclone on another machine\n" {
		t.Errorf("the bucket's notes.txt after a second flush = %q, want rclone's version", got)
	}
	m.unmount()
}

// TestE2ES3ConflictAfterMetadataChange: someone else (rclone) replaces a
// file ferry uploaded; then the mount changes only the file's metadata
// (mtime, mode) or its name, and later its content. ferry must never
// overwrite the other version: some flush reports the conflict, and the
// other version stays in the bucket.
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
			expectErrorLog(t, m, ".txt")
			writeFile(t, filepath.Join(m.MP, "notes.txt"), []byte("version 1, from ferry\n"))
			m.flush()

			theirs := filepath.Join(t.TempDir(), "notes.txt")
			writeFile(t, theirs, []byte("version 2, from rclone\n"))
			f.rclone(t, "copyto", theirs, "m:"+f.bucket+"/notes.txt")

			c.touch(t, filepath.Join(m.MP, "notes.txt"))
			conflicts := 0
			if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
				t.Logf("flush after the %s: %s", c.name, r)
				conflicts++
			}
			writeFile(t, filepath.Join(m.MP, c.final), []byte("version 3, from ferry\n"))
			if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
				t.Logf("flush after the edit: %s", r)
				conflicts++
			}
			if conflicts == 0 {
				t.Errorf("no flush reported a conflict")
			}
			var where []string
			for _, k := range f.keys(t, "") {
				if b, _, err := f.getObject(ctxFor(t, time.Minute), k); err == nil && string(b) == "version 2, from rclone\n" {
					where = append(where, k)
				}
			}
			if len(where) == 0 {
				t.Errorf("rclone's version is gone from the bucket (keys %q): ferry overwrote it", f.keys(t, ""))
			} else {
				t.Logf("rclone's version is kept as %q", where)
			}
			m.unmount()
		})
	}
}
