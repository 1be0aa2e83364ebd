package main

import (
	"slices"
	"strings"
	"testing"
)

func TestS3Contenders(t *testing.T) {
	for _, tc := range []struct {
		only []string
		want []string
	}{
		{[]string{plain, ferry, rclone}, []string{ferry, rcloneCopy, rcloneMount}},
		{[]string{plain, rclone}, []string{rcloneCopy, rcloneMount}},
		{[]string{ferry}, []string{ferry}},
		{[]string{plain}, nil},
	} {
		if got := s3Contenders(tc.only); !slices.Equal(got, tc.want) {
			t.Errorf("s3Contenders(%v) = %v, want %v", tc.only, got, tc.want)
		}
	}
}

func TestExpandGroups(t *testing.T) {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	got, err := pickList("-workloads", expandGroups("s3, untar", workloadGroups), names)
	if err != nil || !slices.Equal(got, []string{"untar", "s3-untar", "s3-seq", "s3-sync"}) {
		t.Errorf("-workloads s3,untar = %v, %v; want [untar s3-untar s3-seq s3-sync]", got, err)
	}
	if got := expandGroups("seq,s3-seq", workloadGroups); got != "seq,s3-seq" {
		t.Errorf("expandGroups changed names that are not groups: %q", got)
	}
	// The S3 untar reads the folder untar's ferry cell: it must come later.
	if !slices.Contains(names, "untar") || slices.Index(names, "untar") > slices.Index(names, "s3-untar") {
		t.Errorf("workload order %v: untar must run before s3-untar", names)
	}
}

func TestAddObject(t *testing.T) {
	var s treeStats
	for _, o := range []struct {
		key  string
		size int64
	}{
		{"src/", 0},              // directory marker
		{"src/go.mod", 100},      // a file
		{"src/net/", 0},          // directory marker
		{"src/net/http.go", 200}, // a file
		{"src/empty", 0},         // an empty file counts
		{".ferry/trash/2026-11-21/src/x", 7},
	} {
		s = s.addObject(o.key, o.size)
	}
	if want := (treeStats{files: 3, bytes: 300}); s != want {
		t.Errorf("counted %v, want %v", s, want)
	}
}

func TestParseRcStats(t *testing.T) {
	n, err := parseRcStats([]byte(`{"diskCache": {"bytesUsed": 10, "uploadsInProgress": 2, "uploadsQueued": 5}, "fs": "m:b"}`))
	if err != nil || n != 7 {
		t.Errorf("parseRcStats = %d, %v; want 7", n, err)
	}
	if n, err := parseRcStats([]byte(`{"diskCache": {"uploadsInProgress": 0, "uploadsQueued": 0}}`)); err != nil || n != 0 {
		t.Errorf("idle: parseRcStats = %d, %v; want 0", n, err)
	}
	for _, bad := range []string{`{"fs": "m:b"}`, `not json`} {
		if _, err := parseRcStats([]byte(bad)); err == nil {
			t.Errorf("parseRcStats(%s) succeeded, want an error", bad)
		}
	}
}

func TestTargetAgainst(t *testing.T) {
	if got := (target{maxRatio, 1.2}).against("ferry on a folder"); got != "≤ 1.2× ferry on a folder" {
		t.Errorf("against = %q", got)
	}
	if got := (target{minRatio, 1}).against("rclone copy"); got != "≥ 100% of rclone copy" {
		t.Errorf("against = %q", got)
	}
}

func TestRenderS3Table(t *testing.T) {
	r := results{}
	r.set(mUntar, ferry, num(1))
	r.set(mS3Untar, ferry, num(1.1))
	r.set(mS3Untar, rcloneCopy, note("n/a"))
	r.set(mS3Untar, rcloneMount, num(5))
	r.set(mS3UntarFlush, ferry, num(30))
	r.set(mS3UntarFlush, rcloneCopy, num(20))
	r.set(mS3UntarFlush, rcloneMount, num(60))
	r.set(mS3Upload, ferry, num(200))
	r.set(mS3Upload, rcloneCopy, num(100))
	r.set(mS3Upload, rcloneMount, failedf("mount: boom"))

	out := renderS3Table(s3Measures(1<<30), r)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "| Measure | ferry | rclone copy | rclone mount | ferry/baseline | target |" {
		t.Fatalf("header = %q", lines[0])
	}
	want := []string{
		"| Untar Go source tree, until tar exits (s) | 1.10 | n/a | 5.00 (5.00×) | 1.10× | ≤ 1.2× ferry on a folder (1.00 s): pass |",
		"| Untar start to all in the bucket (s) | 30.0 | 20.0 | 60.0 (3.00×) | 1.50× | ≤ 1× rclone copy: FAIL |",
		"| Upload one 1 GiB file, write start to in the bucket (MB/s) | 200 | 100 | error: mount: boom | 2.00× | ≥ 100% of rclone copy: pass |",
	}
	if !slices.Equal(lines[2:], want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(lines[2:], "\n"), strings.Join(want, "\n"))
	}

	// Without the folder untar, the first row has no baseline: n/a, no verdict.
	delete(r, mUntar)
	r.set(mS3UntarCheck, ferry, note("bucket holds 1 files, 2 bytes, want 3 files, 4 bytes"))
	out = renderS3Table(s3Measures(1<<30), r)
	if !strings.Contains(out, "| Untar Go source tree, until tar exits (s) | 1.10 | n/a | 5.00 | n/a | ≤ 1.2× ferry on a folder (n/a) |") {
		t.Errorf("row without its baseline:\n%s", out)
	}
	if !strings.Contains(out, "| WARNING: bucket vs tarball after untar | bucket holds 1 files") {
		t.Errorf("warning row missing:\n%s", out)
	}
	if strings.Contains(out, "after upload") {
		t.Errorf("upload warning row shown though nobody has a cell in it:\n%s", out)
	}
}
