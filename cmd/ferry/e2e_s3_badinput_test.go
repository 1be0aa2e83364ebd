package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ES3BadInput: a mount of a bucket that cannot work fails at once
// with one clear line, a non-zero exit, and nothing mounted.
func TestE2ES3BadInput(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	cases := []struct {
		name   string
		remote string
		env    []string
		flags  []string
		want   string // part of the message
	}{
		{"bucket does not exist", "s3://no-such-bucket-" + strconv.Itoa(os.Getpid()), f.env(),
			[]string{"--s3-endpoint", f.srv.Endpoint}, "does not exist"},
		{"wrong secret key", f.url(), s3Env(f.srv.AccessKey, "not-the-secret-key"),
			[]string{"--s3-endpoint", f.srv.Endpoint}, "denied"},
		{"unknown access key", f.url(), s3Env("nobody", f.srv.SecretKey),
			[]string{"--s3-endpoint", f.srv.Endpoint}, "denied"},
		{"unreachable endpoint, empty cache", f.url(), f.env(),
			[]string{"--s3-endpoint", "http://127.0.0.1:1"}, "127.0.0.1:1"},
		{"invalid bucket name", "s3://Bad_Bucket", f.env(),
			[]string{"--s3-endpoint", f.srv.Endpoint}, "Bad_Bucket"},
		{"endpoint not a URL", f.url(), f.env(),
			[]string{"--s3-endpoint", "127.0.0.1:9000"}, "endpoint"},
		{"upload cutoff below 5 MiB", f.url(), f.env(),
			[]string{"--s3-endpoint", f.srv.Endpoint, "--s3-upload-cutoff", "1000"}, "cutoff"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := f.dirs(t)
			d.Remote = c.remote
			args := append([]string{"mount", d.Remote, d.MP, "--cache-dir", d.Cache}, c.flags...)
			r := ferryEnv(t, 60*time.Second, c.env, args...)
			t.Logf("%s", strings.TrimSpace(r.stderr))
			wantOneLineError(t, r)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("the message does not say %q: %s", c.want, r)
			}
			for _, secret := range []string{f.srv.SecretKey, "not-the-secret-key"} {
				if strings.Contains(r.stderr, secret) {
					t.Errorf("the message shows the secret key: %s", r)
				}
			}
			noMountLeft(t, d.MP, 0)
		})
	}
}

// TestE2ES3OfflineMount: with the endpoint down, a mount whose cache holds
// the tree starts anyway and serves the cached files; changes made
// offline reach the bucket once the server is back.
func TestE2ES3OfflineMount(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	d := f.dirs(t)
	files := pendingFiles(31)
	m := f.mount(t, d, "--write-back", "100ms")
	writeFiles(t, m.MP, files)
	if err := os.Symlink("dir/b.bin", filepath.Join(m.MP, "link")); err != nil {
		t.Fatal(err)
	}
	m.flush()
	m.unmount()

	f.srv.Stop()
	m = f.mount(t, d, "--write-back", "100ms")
	if !strings.Contains(m.Stderr(), "unreachable") {
		t.Errorf("an offline mount does not say the remote is unreachable:\n%s", m.Stderr())
	}
	for p, want := range files {
		var got []byte
		err := bounded(t, 20*time.Second, "read "+p, func() (err error) {
			got, err = os.ReadFile(filepath.Join(m.MP, filepath.FromSlash(p)))
			return err
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("offline, %s: %d bytes (%v), want %d bytes", p, len(got), err, len(want))
		}
	}
	if l, err := os.Readlink(filepath.Join(m.MP, "link")); err != nil || l != "dir/b.bin" {
		t.Errorf("offline, readlink: %q, %v", l, err)
	}
	offline := []byte("written while the server was down\n")
	if err := bounded(t, 20*time.Second, "write offline.txt", func() error {
		return os.WriteFile(filepath.Join(m.MP, "offline.txt"), offline, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if err := bounded(t, 20*time.Second, "remove a.txt", func() error {
		return os.Remove(filepath.Join(m.MP, "a.txt"))
	}); err != nil {
		t.Fatal(err)
	}
	if st := ferryStatus(t, m.MP); st.PendingOps == 0 {
		t.Errorf("offline, after a write: status %+v, want pending ops", st)
	}

	f.srv.Restart(t)
	if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
		t.Errorf("flush once the server is back: %s", r)
	}
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	m.unmount()
}
