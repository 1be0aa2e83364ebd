package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lslEntry is one line of `rclone lsl`.
type lslEntry struct {
	size  int64
	mtime time.Time
}

// rcloneLsl lists the bucket with `rclone lsl`, in UTC, by path.
func (f *s3Fixture) rcloneLsl(t testing.TB) map[string]lslEntry {
	t.Helper()
	out := f.rclone(t, "lsl", "m:"+f.bucket)
	list := map[string]lslEntry{}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		// "     1200 2020-09-13 12:26:40.123456789 path with spaces"
		fields := strings.Fields(s.Text())
		if len(fields) < 4 {
			t.Fatalf("rclone lsl: line %q", s.Text())
		}
		size, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			t.Fatalf("rclone lsl: line %q: %v", s.Text(), err)
		}
		mtime, err := time.Parse("2006-01-02 15:04:05.999999999", fields[1]+" "+fields[2])
		if err != nil {
			t.Fatalf("rclone lsl: line %q: %v", s.Text(), err)
		}
		// The path is the rest of the line after the time.
		line := s.Text()
		i := strings.Index(line, fields[2]) + len(fields[2]) + 1
		if strings.HasPrefix(line[i:], ".ferry/") {
			continue // ferry's change log and recycle bin, not the tree
		}
		list[line[i:]] = lslEntry{size: size, mtime: mtime}
	}
	return list
}

// TestE2ES3RcloneReadsFerry: what ferry uploads, rclone reads: contents
// with rclone cat, mtimes to the second with rclone lsl, a symlink as an
// .rclonelink object, and the whole tree, modes included, with rclone
// copy --links --metadata back to a folder.
func TestE2ES3RcloneReadsFerry(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	r := rand.New(rand.NewPCG(11, 11))
	type file struct {
		data  []byte
		perm  os.FileMode
		mtime time.Time // zero: left as written
	}
	files := map[string]file{
		"hello.txt":               {data: []byte("hello, rclone\n"), perm: 0o644},
		"dir/data.bin":            {data: randomBytes(r, 300<<10), perm: 0o600, mtime: time.Unix(1600000000, 123456789)},
		"dir/sub/empty":           {perm: 0o640, mtime: time.Unix(1234567890, 0)},
		"dir/sub/ünï côdé & x.md": {data: []byte("# notes\n"), perm: 0o664, mtime: time.Unix(1700000000, 999999999)},
		"big.bin":                 {data: randomBytes(r, 3<<20+17), perm: 0o644, mtime: time.Unix(1500000000, 5)},
	}
	for p, fl := range files {
		full := filepath.Join(m.MP, filepath.FromSlash(p))
		mkdirAll(t, filepath.Dir(full))
		writeFile(t, full, fl.data)
		if err := os.Chmod(full, fl.perm); err != nil {
			t.Fatal(err)
		}
		if !fl.mtime.IsZero() {
			if err := os.Chtimes(full, fl.mtime, fl.mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink("dir/data.bin", filepath.Join(m.MP, "link")); err != nil {
		t.Fatal(err)
	}
	m.flush()

	for p, fl := range files {
		if got := f.rclone(t, "cat", "m:"+f.bucket+"/"+p); !bytes.Equal(got, fl.data) {
			t.Errorf("rclone cat %s: %d bytes sha256 %.12s, want %d bytes sha256 %.12s", p, len(got), hashBytes(got), len(fl.data), hashBytes(fl.data))
		}
	}
	lsl := f.rcloneLsl(t)
	for p := range files {
		fi, err := os.Stat(filepath.Join(m.MP, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		e, ok := lsl[p]
		switch {
		case !ok:
			t.Errorf("rclone lsl does not list %s: %v", p, lsl)
		case e.size != fi.Size():
			t.Errorf("rclone lsl: %s has %d bytes, the mount %d", p, e.size, fi.Size())
		case e.mtime.Unix() != fi.ModTime().Unix():
			t.Errorf("rclone lsl: %s modified %v, the mount says %v", p, e.mtime, fi.ModTime().UTC())
		}
	}
	if e, ok := lsl["link.rclonelink"]; !ok || e.size != int64(len("dir/data.bin")) {
		t.Errorf("rclone lsl: the symlink is %+v (listed: %v), want link.rclonelink of %d bytes", e, ok, len("dir/data.bin"))
	}
	if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/link.rclonelink")); got != "dir/data.bin" {
		t.Errorf("rclone cat link.rclonelink = %q, want the target dir/data.bin", got)
	}
	if len(lsl) != len(files)+1 {
		t.Errorf("rclone lsl lists %d objects, want %d: %v", len(lsl), len(files)+1, lsl)
	}

	// The whole tree, back through rclone: symlinks from .rclonelink,
	// modes and mtimes from the metadata.
	back := filepath.Join(t.TempDir(), "back")
	f.rclone(t, "copy", "--links", "--metadata", "--exclude", "/.ferry/**", "m:"+f.bucket, back)
	compareTrees(t, m.MP, back, compareOpts{perm: true, fileMtimes: true})
	m.unmount()
}

// TestE2ES3FerryReadsRclone: a tree rclone copies into a fresh bucket
// (with --links and --metadata) mounts with its paths, types, sizes,
// modes and mtimes before any content is downloaded; reading downloads
// the right bytes; and edits through the mount reach the bucket, where
// rclone reads them.
func TestE2ES3FerryReadsRclone(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	src := filepath.Join(t.TempDir(), "src")
	makeSampleTree(t, src, 21)
	// rclone 1.60 keeps no empty directories on S3.
	if err := os.Remove(filepath.Join(src, "emptydir")); err != nil {
		t.Fatal(err)
	}
	perms := map[string]os.FileMode{"README.md": 0o600, "docs/big.bin": 0o640, "src/main.go": 0o755, "empty": 0o444}
	for p, perm := range perms {
		if err := os.Chmod(filepath.Join(src, p), perm); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			i++
			mt := time.Unix(1500000000+int64(i)*86400*37, int64(i)*123456789%1e9)
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		return err
	})
	f.rclone(t, "copy", "--links", "--metadata", src, "m:"+f.bucket)

	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	// Before any file is opened: the tree's metadata, and no content in
	// the cache.
	want, total := statTree(t, src)
	got, _ := statTree(t, m.MP)
	diffs, _ := treeDiff(want, got, compareOpts{perm: true, fileMtimes: true})
	for _, df := range diffs {
		t.Errorf("rclone's tree vs the mount, before reading: %s", df)
	}
	if n := dirBytes(t, filepath.Join(d.Cache, "data")); n >= total/2 {
		t.Errorf("the cache holds %d bytes of content before any file was opened (the tree has %d): want metadata only", n, total)
	}
	// Reading downloads: every byte as rclone uploaded it.
	compareTrees(t, src, m.MP, compareOpts{perm: true, fileMtimes: true})
	diffR(t, src, m.MP)

	// Edits through the mount reach the bucket.
	guide := filepath.Join(m.MP, "docs/guide.txt")
	old, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	af, err := os.OpenFile(guide, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.WriteString("appended through ferry\n"); err != nil {
		t.Fatal(err)
	}
	if err := af.Close(); err != nil {
		t.Fatal(err)
	}
	mainGo := []byte("package main\n\nfunc main() {}\n")
	writeFile(t, filepath.Join(m.MP, "src/.main.go.tmp"), mainGo)
	rename(t, filepath.Join(m.MP, "src/.main.go.tmp"), filepath.Join(m.MP, "src/main.go"))
	writeFile(t, filepath.Join(m.MP, "docs/new.txt"), []byte("new\n"))
	m.flush()

	edits := map[string]string{
		"docs/guide.txt": string(old) + "appended through ferry\n",
		"src/main.go":    string(mainGo),
		"docs/new.txt":   "new\n",
	}
	for p, w := range edits {
		if got := string(f.rclone(t, "cat", "m:"+f.bucket+"/"+p)); got != w {
			t.Errorf("rclone cat %s after an edit through the mount = %q, want %q", p, got, w)
		}
	}
	lsl := f.rcloneLsl(t)
	for p := range edits {
		fi, err := os.Stat(filepath.Join(m.MP, p))
		if err != nil {
			t.Fatal(err)
		}
		if e := lsl[p]; e.mtime.Unix() != fi.ModTime().Unix() || e.size != fi.Size() {
			t.Errorf("rclone lsl %s: %+v, the mount: %d bytes modified %v", p, e, fi.Size(), fi.ModTime().UTC())
		}
	}
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	m.unmount()
}

// statTree is readTree without reading any content: types, sizes, modes,
// mtimes and symlink targets, by Lstat only. It also returns the total
// size of the regular files.
func statTree(t testing.TB, root string) (map[string]treeEntry, int64) {
	t.Helper()
	tree := map[string]treeEntry{}
	var total int64
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{Perm: fi.Mode().Perm(), Mtime: fi.ModTime().Unix()}
		switch {
		case fi.IsDir():
			e.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			total += fi.Size()
		default:
			e.Type = "other"
		}
		tree[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return tree, total
}

// dirBytes is the total size of the regular files below dir (0 if dir
// does not exist).
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if de.Type().IsRegular() {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return n
}
