package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-fs/ferry/remote"
)

func TestClassify(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "openat", Path: "/abs/dir/.ferry-tmp-XYZ", Err: errno}
	}
	for _, c := range []struct {
		err  error
		m    mode
		want error // nil: transient
	}{
		{pathErr(syscall.ENOENT), reading, remote.ErrNotFound},
		{pathErr(syscall.ENOENT), writing, nil},
		{pathErr(syscall.ENOTDIR), reading, remote.ErrNotFound},
		{pathErr(syscall.ENOTDIR), writing, remote.ErrPermanent},
		{pathErr(syscall.EACCES), reading, remote.ErrPermanent},
		{pathErr(syscall.EPERM), writing, remote.ErrPermanent},
		{pathErr(syscall.ENAMETOOLONG), writing, remote.ErrPermanent},
		{pathErr(syscall.ENOTEMPTY), writing, remote.ErrPermanent},
		{pathErr(syscall.EROFS), writing, remote.ErrPermanent},
		{pathErr(syscall.EIO), writing, nil},
		{pathErr(syscall.ENOSPC), writing, nil},
		{&fs.PathError{Op: "openat", Path: "x", Err: errors.New("path escapes from parent")}, reading, remote.ErrPermanent},
		{errSymlinkParent, writing, remote.ErrPermanent},
		{errReplaced, reading, nil},
	} {
		err := fail("put", "dir/my file", c.err, c.m)
		msg := err.Error()
		if strings.Contains(msg, "\n") || strings.Contains(msg, ".ferry-tmp-") || !strings.HasPrefix(msg, `put "dir/my file": `) {
			t.Errorf("message %q: want one line naming the op and remote path, not the temp file", msg)
		}
		for _, class := range []error{remote.ErrNotFound, remote.ErrPermanent} {
			if got := errors.Is(err, class); got != (class == c.want) {
				t.Errorf("fail(%v, %v): errors.Is(%v) = %v", c.err, c.m, class, got)
			}
		}
		if remote.IsPermanent(err) != (c.want != nil) {
			t.Errorf("fail(%v, %v): IsPermanent = %v", c.err, c.m, !(c.want != nil))
		}
		if !errors.Is(err, c.err) {
			t.Errorf("fail(%v) lost its cause", c.err)
		}
	}
	if err := fail("put", "x", fmt.Errorf("w: %w", context.Canceled), writing); remote.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancellation classified as %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"a", "a/b", "a b/c+d", "é/日本/🚀", strings.Repeat("x", 255), ".hidden", "a..b", "...",
		"a/.ferry", ".ferry-x", ".ferryx/y"} {
		if err := checkPath(p, false); err != nil {
			t.Errorf("checkPath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a\x00b",
		strings.Repeat("x", 256), tempPrefix + "x", "a/" + tempPrefix, "bad\xffutf8", "a/\xc3", ".ferry", ".ferry/log/1"} {
		if err := checkPath(p, false); err == nil {
			t.Errorf("checkPath(%q) = nil, want an error", p)
		}
	}
	if err := checkPath("", true); err != nil {
		t.Errorf("checkPath(root) = %v", err)
	}
}
