package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestE2ES3UploadModeReuploads: in the backup mode, a file this device
// uploaded that is then deleted on the remote goes up again: at the next
// rescan when another tool deleted it, at the next poll when another ferry
// device did (and logged it).
func TestE2ES3UploadModeReuploads(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	m := f.mount(t, f.dirs(t), "--mode", "upload", "--write-back", "100ms", "--rescan-interval", "0")
	writeFile(t, filepath.Join(m.MP, "keep.txt"), []byte("backed up\n"))
	m.flush()
	key := "keep.txt"
	ctx := ctxFor(t, time.Minute)
	if _, err := f.srv.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	mustFerry(t, time.Minute, "sync", "--rescan", m.MP)
	m.flush()
	if b, _, err := f.getObject(ctx, key); err != nil || string(b) != "backed up\n" {
		t.Fatalf("after a rescan and flush, the bucket's keep.txt = %q (%v), want it uploaded again", b, err)
	}

	// Deleted by another ferry device, which logs it: the backup hears of
	// it at its next poll, no rescan needed, and uploads the file again.
	writeFile(t, filepath.Join(m.MP, "logged.txt"), []byte("backed up too\n"))
	m.flush()
	a := f.mount(t, f.dirs(t), "--write-back", "100ms", "--poll-interval", "1s", "--device-name", "devA")
	eventually(t, 30*time.Second, "the other device never shows logged.txt", contentIs(filepath.Join(a.MP, "logged.txt"), "backed up too\n"))
	remove(t, filepath.Join(a.MP, "logged.txt"))
	a.flush()
	eventually(t, 30*time.Second, "the backup never uploads logged.txt again after another device deleted it", func() bool {
		m.flush()
		b, _, err := f.getObject(ctx, "logged.txt")
		return err == nil && string(b) == "backed up too\n"
	})
	a.unmount()
	m.unmount()
}
