package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestE2ES3UploadModeReuploads: in the backup mode, a file this device
// uploaded that is then deleted on the remote goes up again at the next
// rescan, and remote changes never reach the mount.
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
	m.unmount()
}
