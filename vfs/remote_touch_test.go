package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestRemoteTouchAndChmodShow: another device changes only the mtime and
// mode of a file this device shows (touch -d, chmod). The poll brought the
// new version of the same content, and this device recorded it, but kept
// the old mtime and mode: the devices disagreed for good. On S3 the
// version does not even change (the ETag is the content's MD5).
func TestRemoteTouchAndChmodShow(t *testing.T) {
	for _, s3Like := range []bool{false, true} {
		t.Run(map[bool]string{false: "new version", true: "same version"}[s3Like], func(t *testing.T) {
			remoteTouch(t, s3Like)
		})
	}
}

// remoteTouch is TestRemoteTouchAndChmodShow, with the version of the
// file kept by the change (s3Like) or not.
func remoteTouch(t *testing.T, s3Like bool) {
	ctx := context.Background()
	l, _ := newLocal(t)
	fs, up := newPolling(t, unwatched{l}, journal.Config{Device: "devB", DeviceID: "b1"})
	e := putTheirs(t, l, "f.txt", "f", remote.Cond{IfNoneMatch: true})
	e.Hash = "their hash of f" // as their log has it
	pollTheirs(t, l, up, change("put", e))
	readAt(t, fs, l, "f.txt", "f")

	mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := l.SetMeta(ctx, "f.txt", remote.Meta{ModTime: mt, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	now, err := l.Stat(ctx, "f.txt")
	if err != nil {
		t.Fatal(err)
	}
	now.Hash = e.Hash
	if s3Like {
		now.Version = e.Version // S3: the ETag is the content's MD5
	}
	pollTheirs(t, l, up, change("put", now))

	id, _, _ := fs.NodeAt("f.txt")
	a, err := fs.GetAttr(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(0, a.Mtime); !got.Equal(mt) {
		t.Errorf("f.txt's mtime here is %v, want the other device's %v", got, mt)
	}
	if a.Mode&0o777 != 0o600 {
		t.Errorf("f.txt's mode here is %o, want 600", a.Mode&0o777)
	}
	readAt(t, fs, l, "f.txt", "f")
}
