package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestE2EReadOnly: a --read-only mount serves what the cache holds and
// refuses every change with EROFS.
func TestE2EReadOnly(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "100ms")
	mkdirAll(t, filepath.Join(d.MP, "dir/sub"))
	writeFile(t, filepath.Join(d.MP, "dir/file"), []byte("read me\n"))
	writeFile(t, filepath.Join(d.MP, "empty"), nil)
	if err := os.Symlink("dir/file", filepath.Join(d.MP, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(d.MP, "dir/file"), "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	m.flush()
	m.unmount()
	before := readTree(t, d.Remote)

	m = startMount(t, d, "--read-only")
	mp := d.MP
	if got, err := os.ReadFile(filepath.Join(mp, "dir/file")); err != nil || string(got) != "read me\n" {
		t.Errorf("read on a read-only mount: %q, %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(mp, "link")); err != nil || string(got) != "read me\n" {
		t.Errorf("read through a symlink on a read-only mount: %q, %v", got, err)
	}
	if ents, err := os.ReadDir(mp); err != nil || len(ents) != 3 {
		t.Errorf("readdir on a read-only mount: %v, %v", ents, err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(filepath.Join(mp, "dir/file"), "user.color", buf); err != nil || string(buf[:n]) != "blue" {
		t.Errorf("getxattr on a read-only mount: %q, %v", buf[:n], err)
	}

	file := filepath.Join(mp, "dir/file")
	refused := []struct {
		what string
		do   func() error
	}{
		{"create", func() error { return closeErr(os.OpenFile(filepath.Join(mp, "new"), os.O_CREATE|os.O_WRONLY, 0o644)) }},
		{"open for writing", func() error { return closeErr(os.OpenFile(file, os.O_WRONLY, 0)) }},
		{"open read-write", func() error { return closeErr(os.OpenFile(file, os.O_RDWR, 0)) }},
		{"open O_TRUNC", func() error { return closeErr(os.OpenFile(file, os.O_RDONLY|os.O_TRUNC, 0)) }},
		{"truncate", func() error { return os.Truncate(file, 0) }},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(mp, "newdir"), 0o755) }},
		{"unlink", func() error { return os.Remove(file) }},
		{"rmdir", func() error { return syscall.Rmdir(filepath.Join(mp, "dir/sub")) }},
		{"rename", func() error { return os.Rename(file, filepath.Join(mp, "moved")) }},
		{"symlink", func() error { return os.Symlink("x", filepath.Join(mp, "newlink")) }},
		{"chmod", func() error { return os.Chmod(file, 0o600) }},
		{"chown", func() error { return os.Chown(file, 1234, 1234) }},
		{"utimes", func() error { return os.Chtimes(file, time.Unix(1e9, 0), time.Unix(1e9, 0)) }},
		{"setxattr", func() error { return unix.Setxattr(file, "user.x", []byte("1"), 0) }},
		{"removexattr", func() error { return unix.Removexattr(file, "user.color") }},
	}
	for _, r := range refused {
		wantErrno(t, r.what+" on a read-only mount", r.do(), syscall.EROFS)
	}
	m.flush()
	m.unmount()
	if diffs, _ := treeDiff(before, readTree(t, d.Remote), compareOpts{perm: true, fileMtimes: true}); len(diffs) > 0 {
		t.Errorf("the remote changed under a read-only mount: %v", diffs)
	}
}

func closeErr(f *os.File, err error) error {
	if err == nil {
		f.Close()
	}
	return err
}

// TestE2ESyscalls checks system calls one by one, then that the remote
// ends up with the same files, modes and modification times.
func TestE2ESyscalls(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "100ms")
	mp := d.MP

	t.Run("O_EXCL on an existing file", func(t *testing.T) {
		p := filepath.Join(mp, "excl")
		writeFile(t, p, []byte("x"))
		_, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		wantErrno(t, "O_CREAT|O_EXCL", err, syscall.EEXIST)
	})

	t.Run("rmdir of a non-empty directory", func(t *testing.T) {
		p := filepath.Join(mp, "full")
		mkdirAll(t, p)
		writeFile(t, filepath.Join(p, "f"), nil)
		wantErrno(t, "rmdir", syscall.Rmdir(p), syscall.ENOTEMPTY)
	})

	t.Run("names of 255 and 256 bytes", func(t *testing.T) {
		long := filepath.Join(mp, strings.Repeat("n", 255))
		writeFile(t, long, []byte("ok"))
		tooLong := filepath.Join(mp, strings.Repeat("n", 256))
		_, err := os.Create(tooLong)
		wantErrno(t, "create with a 256-byte name", err, syscall.ENAMETOOLONG)
		wantErrno(t, "mkdir with a 256-byte name", os.Mkdir(tooLong, 0o755), syscall.ENAMETOOLONG)
		wantErrno(t, "rename to a 256-byte name", os.Rename(long, tooLong), syscall.ENAMETOOLONG)
	})

	t.Run("renameat2 RENAME_NOREPLACE", func(t *testing.T) {
		a, b, c := filepath.Join(mp, "nr-a"), filepath.Join(mp, "nr-b"), filepath.Join(mp, "nr-c")
		writeFile(t, a, []byte("a"))
		writeFile(t, b, []byte("b"))
		err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE)
		wantErrno(t, "RENAME_NOREPLACE onto an existing file", err, syscall.EEXIST)
		if got, _ := os.ReadFile(b); string(got) != "b" {
			t.Errorf("RENAME_NOREPLACE changed the target: %q", got)
		}
		if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_NOREPLACE); err != nil {
			t.Errorf("RENAME_NOREPLACE to a free name: %v", err)
		}
	})

	t.Run("renameat2 RENAME_EXCHANGE", func(t *testing.T) {
		x, y := filepath.Join(mp, "xch-x"), filepath.Join(mp, "xch-y")
		dir, file := filepath.Join(mp, "xch-dir"), filepath.Join(mp, "xch-file")
		writeFile(t, x, []byte("content of x\n"))
		writeFile(t, y, []byte("content of y, longer\n"))
		mkdirAll(t, filepath.Join(dir, "inner"))
		writeFile(t, filepath.Join(dir, "inner", "f"), []byte("in the directory\n"))
		writeFile(t, file, []byte("a plain file\n"))
		m.flush() // the exchange must also be replayed on the remote
		if err := unix.Renameat2(unix.AT_FDCWD, x, unix.AT_FDCWD, y, unix.RENAME_EXCHANGE); err != nil {
			t.Fatalf("RENAME_EXCHANGE of two files: %v", err)
		}
		if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, file, unix.RENAME_EXCHANGE); err != nil {
			t.Fatalf("RENAME_EXCHANGE of a directory and a file: %v", err)
		}
		if got, _ := os.ReadFile(x); string(got) != "content of y, longer\n" {
			t.Errorf("after the exchange x holds %q", got)
		}
		if got, _ := os.ReadFile(filepath.Join(file, "inner", "f")); string(got) != "in the directory\n" {
			t.Errorf("after the exchange xch-file/inner/f holds %q", got)
		}
		m.flush()
		for p, want := range map[string]string{
			"xch-x": "content of y, longer\n", "xch-y": "content of x\n",
			"xch-dir": "a plain file\n", "xch-file/inner/f": "in the directory\n",
		} {
			if got, err := os.ReadFile(filepath.Join(d.Remote, p)); err != nil || string(got) != want {
				t.Errorf("remote %s after the exchange: %q, %v; want %q", p, got, err, want)
			}
		}
	})

	t.Run("user xattrs", func(t *testing.T) {
		p := filepath.Join(mp, "xattrs")
		writeFile(t, p, nil)
		for _, kv := range [][2]string{{"user.a", "1"}, {"user.b", "two"}, {"user.empty", ""}} {
			if err := unix.Setxattr(p, kv[0], []byte(kv[1]), 0); err != nil {
				t.Fatalf("setxattr %s: %v", kv[0], err)
			}
		}
		buf := make([]byte, 256)
		if n, err := unix.Getxattr(p, "user.b", buf); err != nil || string(buf[:n]) != "two" {
			t.Errorf("getxattr user.b: %q, %v", buf[:n], err)
		}
		n, err := unix.Listxattr(p, buf)
		if err != nil {
			t.Fatalf("listxattr: %v", err)
		}
		names := strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
		slices.Sort(names)
		if !slices.Equal(names, []string{"user.a", "user.b", "user.empty"}) {
			t.Errorf("listxattr: %q", names)
		}
		wantErrno(t, "XATTR_CREATE of an existing name", unix.Setxattr(p, "user.a", []byte("x"), unix.XATTR_CREATE), syscall.EEXIST)
		wantErrno(t, "XATTR_REPLACE of a missing name", unix.Setxattr(p, "user.none", []byte("x"), unix.XATTR_REPLACE), syscall.ENODATA)
		if err := unix.Removexattr(p, "user.a"); err != nil {
			t.Errorf("removexattr: %v", err)
		}
		_, err = unix.Getxattr(p, "user.a", buf)
		wantErrno(t, "getxattr after removexattr", err, syscall.ENODATA)
		wantErrno(t, "removexattr of a missing name", unix.Removexattr(p, "user.a"), syscall.ENODATA)
		if err := unix.Setxattr(p, "trusted.x", []byte("1"), 0); err == nil {
			t.Errorf("setxattr trusted.x succeeded; only the user namespace is stored")
		}
	})

	t.Run("chmod chown utimes", func(t *testing.T) {
		p := filepath.Join(mp, "attrs")
		writeFile(t, p, []byte("attrs\n"))
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 1234, 5678); err != nil {
			t.Fatal(err)
		}
		atime := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
		mtime := time.Date(2002, 3, 4, 5, 6, 7, 8000, time.UTC)
		if err := os.Chtimes(p, atime, mtime); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != 0o640 || st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("stat after chmod/chown: mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
		}
		if got := time.Unix(st.Mtim.Unix()); !got.Equal(mtime) {
			t.Errorf("mtime %v, want %v", got, mtime)
		}
		if got := time.Unix(st.Atim.Unix()); !got.Equal(atime) {
			t.Errorf("atime %v, want %v", got, atime)
		}
		dir := filepath.Join(mp, "attrs-dir")
		mkdirAll(t, dir)
		if err := os.Chmod(dir, 0o710); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o710 {
			t.Errorf("directory after chmod: %v, %v", fi.Mode(), err)
		}
	})

	t.Run("unlinked but open", func(t *testing.T) {
		p := filepath.Join(mp, "doomed")
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("before unlink;")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("after unlink")); err != nil {
			t.Errorf("write after unlink: %v", err)
		}
		got := make([]byte, 64)
		n, err := f.ReadAt(got, 0)
		if string(got[:n]) != "before unlink;after unlink" {
			t.Errorf("read after unlink: %q, %v", got[:n], err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Size != 26 || st.Nlink != 0 {
			t.Errorf("fstat after unlink: size %d nlink %d, %v", st.Size, st.Nlink, err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("close after unlink: %v", err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lstat after unlink and close: %v", err)
		}
	})

	t.Run("sparse file", func(t *testing.T) {
		p := filepath.Join(mp, "sparse")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		const off = 10 << 20
		if _, err := f.WriteAt([]byte("end"), off); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != off+3 || string(got[off:]) != "end" || !bytes.Equal(got[:off], make([]byte, off)) {
			t.Errorf("sparse file reads %d bytes, tail %q; want %d zeros then \"end\"", len(got), got[max(0, len(got)-3):], off)
		}
	})

	t.Run("statfs", func(t *testing.T) {
		var st unix.Statfs_t
		if err := unix.Statfs(mp, &st); err != nil {
			t.Fatal(err)
		}
		if st.Namelen != 255 || st.Bsize <= 0 || st.Blocks == 0 {
			t.Errorf("statfs: namelen %d bsize %d blocks %d", st.Namelen, st.Bsize, st.Blocks)
		}
	})

	t.Run("mknod FIFO fails", func(t *testing.T) {
		p := filepath.Join(mp, "fifo")
		err := unix.Mkfifo(p, 0o644)
		if err == nil {
			t.Errorf("mkfifo succeeded; ferry cannot store FIFOs")
		}
		t.Logf("mkfifo: %v", err)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a failed mkfifo left %s: %v", p, err)
		}
	})

	t.Run("link fails with EPERM", func(t *testing.T) {
		p := filepath.Join(mp, "link-target")
		writeFile(t, p, []byte("x"))
		wantErrno(t, "link", os.Link(p, filepath.Join(mp, "hardlink")), syscall.EPERM)
	})

	m.flush()
	compareTrees(t, mp, d.Remote, compareOpts{perm: true, fileMtimes: true})
	// The utimes above is the one mtime the kernel did not pick: check it by value.
	if fi, err := os.Stat(filepath.Join(d.Remote, "attrs")); err != nil || fi.ModTime().Unix() != time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC).Unix() || fi.Mode().Perm() != 0o640 {
		t.Errorf("remote attrs: %v, %v", fi, err)
	}
}
