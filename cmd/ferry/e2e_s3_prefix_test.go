package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ES3Prefix mounts a folder of a bucket, s3://BUCKET/PREFIX: what
// the mount does lands below the prefix and nowhere else, and a fresh
// mount of the same prefix shows the same tree.
func TestE2ES3Prefix(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	outside := filepath.Join(t.TempDir(), "keep.txt")
	writeFile(t, outside, []byte("not ferry's\n"))
	f.rclone(t, "copyto", outside, "m:"+f.bucket+"/team/keep.txt")
	f.rclone(t, "copyto", outside, "m:"+f.bucket+"/team/docs-other/keep.txt")

	const prefix = "team/docs/"
	d := f.dirs(t)
	d.Remote = f.url() + "/team/docs"
	m := f.mount(t, d, "--write-back", "100ms")
	makeSampleTree(t, m.MP, 41)
	rename(t, filepath.Join(m.MP, "old"), filepath.Join(m.MP, "archive"))
	remove(t, filepath.Join(m.MP, "docs/notes/one.txt"))
	m.flush()
	f.compareBucket(t, m.MP, prefix, compareOpts{perm: true, fileMtimes: true})
	for _, k := range f.keys(t, "") {
		if !strings.HasPrefix(k, prefix) && k != "team/keep.txt" && k != "team/docs-other/keep.txt" {
			t.Errorf("the mount of s3://%s/team/docs wrote %s, outside its prefix", f.bucket, k)
		}
	}
	for _, k := range []string{"team/keep.txt", "team/docs-other/keep.txt"} {
		if b, _, err := f.getObject(ctxFor(t, 2*time.Minute), k); err != nil || string(b) != "not ferry's\n" {
			t.Errorf("%s outside the prefix: %q, %v", k, b, err)
		}
	}
	before := readTree(t, m.MP)
	m.unmount()

	d2 := f.dirs(t)
	d2.Remote = d.Remote
	m2 := f.mount(t, d2, "--write-back", "100ms")
	diffs, _ := treeDiff(before, readTree(t, m2.MP), compareOpts{perm: true, fileMtimes: true})
	for _, df := range diffs {
		t.Errorf("first mount vs a fresh mount of the prefix: %s", df)
	}
	if _, err := os.Stat(filepath.Join(m2.MP, "keep.txt")); err == nil {
		t.Errorf("the mount of the prefix shows keep.txt from outside it")
	}
	m2.unmount()
}
