package s3

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// rclone runs the rclone on PATH against srv as the remote "m:", configured
// through the environment only. AWS_CA_BUNDLE is left out: Debian's rclone
// 1.60 fails with it set.
func rclone(t *testing.T, srv *s3test.Server, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rclone is not installed: run `make deps`")
		}
		t.Skip("rclone is not installed: run `make deps`")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") && !strings.HasPrefix(kv, "TZ=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TZ=UTC",
		"RCLONE_CONFIG="+filepath.Join(t.TempDir(), "rclone.conf"),
		"RCLONE_CONFIG_M_TYPE=s3", "RCLONE_CONFIG_M_PROVIDER=Minio", "RCLONE_CONFIG_M_REGION=us-east-1",
		"RCLONE_CONFIG_M_ENDPOINT="+srv.Endpoint,
		"RCLONE_CONFIG_M_ACCESS_KEY_ID="+srv.AccessKey,
		"RCLONE_CONFIG_M_SECRET_ACCESS_KEY="+srv.SecretKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// walk returns every entry below dir, by path.
func walk(t *testing.T, r remote.Remote, dir string) map[string]remote.Entry {
	t.Helper()
	all := map[string]remote.Entry{}
	var visit func(string)
	visit = func(d string) {
		err := r.List(t.Context(), d, func(e remote.Entry) error {
			all[e.Path] = e
			if e.Dir {
				defer visit(e.Path)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", d, err)
		}
	}
	visit(dir)
	return all
}

func readAll(t *testing.T, r remote.Remote, p string) []byte {
	t.Helper()
	rc, err := r.Get(t.Context(), p, 0, -1, "")
	if err != nil {
		t.Fatalf("Get(%q): %v", p, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): %v", p, err)
	}
	return b
}

// TestRcloneWritesFerryReads uploads a folder with rclone (symlinks as
// .rclonelink files, metadata on) and reads it back through the backend.
func TestRcloneWritesFerryReads(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "pre")
	src := t.TempDir()
	type file struct {
		content string
		perm    os.FileMode
		mtime   time.Time
	}
	files := map[string]file{
		"top.txt":              {"hello", 0o600, time.Unix(1600000000, 123456789)},
		"d/a.bin":              {strings.Repeat("0123456789", 6554), 0o640, time.Unix(1500000000, 5)},
		"d/e/empty":            {"", 0o644, time.Unix(1400000000, 0)},
		"d/ünï côdé & more.md": {"# notes\n", 0o664, time.Unix(1700000000, 999999999)},
	}
	for p, f := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f.content), f.perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, f.perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../top.txt", filepath.Join(src, "d", "link")); err != nil {
		t.Fatal(err)
	}
	rclone(t, srv, "copy", "--links", "--metadata", src, "m:"+r.Bucket()+"/pre")

	got := walk(t, r, "")
	want := []string{"top.txt", "d", "d/a.bin", "d/e", "d/e/empty", "d/ünï côdé & more.md", "d/link"}
	if len(got) != len(want) {
		t.Errorf("the tree rclone wrote lists as %v, want %q", keysOf(got), want)
	}
	for p, f := range files {
		e, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%q is missing", p)
		case e.Dir || e.Size != int64(len(f.content)):
			t.Errorf("%q: %+v, want a file of %d bytes", p, e, len(f.content))
		case !e.ModTime.Equal(f.mtime):
			t.Errorf("%q: ModTime %v, want rclone's %v", p, e.ModTime, f.mtime)
		case e.Mode.Perm() != f.perm:
			t.Errorf("%q: Mode %v, want the %v rclone recorded", p, e.Mode, f.perm)
		}
		if b := readAll(t, r, p); string(b) != f.content {
			t.Errorf("%q: content differs", p)
		}
	}
	for _, d := range []string{"d", "d/e"} {
		if !got[d].Dir {
			t.Errorf("%q: %+v, want a directory", d, got[d])
		}
	}
	if e := got["d/link"]; e.Link != "../top.txt" || e.Mode&os.ModeSymlink == 0 {
		t.Errorf("d/link: %+v, want a symlink to ../top.txt", e)
	}
}

func keysOf(m map[string]remote.Entry) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// lslLine is a line of rclone lsl: size, mtime with nanoseconds, path.
var lslLine = regexp.MustCompile(`^\s*(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}) (.+)$`)

// TestFerryWritesRcloneReads writes through the backend and reads with
// rclone: listing with sizes and mtimes, content, symlinks and modes.
func TestFerryWritesRcloneReads(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "pre")
	ctx := t.Context()
	type file struct {
		content []byte
		meta    remote.Meta
	}
	big := bytes.Repeat([]byte("multipart upload "), 3*testPart/17+1) // > 3 parts
	files := map[string]file{
		"f":                 {[]byte("first file"), remote.Meta{ModTime: time.Unix(1600000000, 120000000), Mode: 0o600}},
		"dir/big.bin":       {big, remote.Meta{ModTime: time.Unix(1650000000, 1), Mode: 0o644}},
		"dir/sp ace+plus&%": {[]byte("odd name"), remote.Meta{ModTime: time.Unix(1550000000, 0), Mode: 0o640}},
		"dir/empty":         {nil, remote.Meta{ModTime: time.Unix(1450000000, 987654321), Mode: 0o644}},
	}
	for p, f := range files {
		f.meta.Hash = strings.Repeat("ab", 32)
		if _, err := r.Put(ctx, p, bytes.NewReader(f.content), int64(len(f.content)), f.meta, remote.Cond{}); err != nil {
			t.Fatalf("Put(%q): %v", p, err)
		}
	}
	if _, err := r.Put(ctx, "links/l", nil, 0, remote.Meta{ModTime: time.Unix(1600000000, 0), Link: "../f"}, remote.Cond{}); err != nil {
		t.Fatalf("Put of a symlink: %v", err)
	}
	touched := time.Unix(1690000000, 424242424)
	if err := r.SetMeta(ctx, "f", remote.Meta{ModTime: touched}); err != nil {
		t.Fatalf("SetMeta: %v", err)
	}
	f := files["f"]
	f.meta.ModTime = touched
	files["f"] = f

	seen := map[string]bool{}
	for line := range strings.Lines(string(rclone(t, srv, "lsl", "m:"+r.Bucket()+"/pre"))) {
		m := lslLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			t.Fatalf("rclone lsl printed %q", line)
		}
		size, _ := strconv.ParseInt(m[1], 10, 64)
		mtime, err := time.Parse("2006-01-02 15:04:05.000000000", m[2])
		if err != nil {
			t.Fatal(err)
		}
		p := m[3]
		seen[p] = true
		if p == "links/l.rclonelink" {
			continue
		}
		f, ok := files[p]
		switch {
		case !ok:
			t.Errorf("rclone lsl shows %q", p)
		case size != int64(len(f.content)):
			t.Errorf("rclone lsl: %q has %d bytes, want %d", p, size, len(f.content))
		case !mtime.Equal(f.meta.ModTime):
			t.Errorf("rclone lsl: %q modified %v, want %v", p, mtime, f.meta.ModTime.UTC())
		}
	}
	for p, f := range files {
		if !seen[p] {
			t.Errorf("rclone lsl misses %q", p)
			continue
		}
		if got := rclone(t, srv, "cat", "m:"+r.Bucket()+"/pre/"+p); !bytes.Equal(got, f.content) {
			t.Errorf("rclone cat %q: %d bytes that differ from the %d put", p, len(got), len(f.content))
		}
	}

	// rclone turns the .rclonelink back into a symlink, and applies modes.
	dst := t.TempDir()
	rclone(t, srv, "copy", "--links", "--metadata", "m:"+r.Bucket()+"/pre", dst)
	if target, err := os.Readlink(filepath.Join(dst, "links", "l")); err != nil || target != "../f" {
		t.Errorf("rclone copy --links made links/l = %q, %v; want a symlink to ../f", target, err)
	}
	for p, f := range files {
		fi, err := os.Stat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != f.meta.Mode.Perm() || !fi.ModTime().Equal(f.meta.ModTime) {
			t.Errorf("rclone copy --metadata made %q %v modified %v; want %v modified %v",
				p, fi.Mode().Perm(), fi.ModTime(), f.meta.Mode.Perm(), f.meta.ModTime)
		}
	}
}
