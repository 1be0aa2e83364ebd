package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClassifyS3(t *testing.T) {
	copyHdr := http.Header{"X-Amz-Copy-Source": {"b/src"}}
	for _, tc := range []struct {
		method, target string
		h              http.Header
		op, prefix     string
	}{
		{"GET", "/b?list-type=2&prefix=.ferry%2Flog%2F&start-after=x", nil, "ListObjectsV2", ".ferry/log/"},
		{"GET", "/b/?list-type=2&delimiter=%2F&prefix=d001%2F", nil, "ListObjectsV2", "d001/"},
		{"GET", "/b?delimiter=%2F&max-keys=1000&prefix=", nil, "ListObjects", ""},
		{"GET", "/b?uploads", nil, "ListMultipartUploads", ""},
		{"GET", "/b?location", nil, "GetBucketLocation", ""},
		{"GET", "/b?versioning", nil, "GetBucket?versioning=", ""},
		{"GET", "/b/d001/f0001", nil, "GetObject", ""},
		{"HEAD", "/b/d001/f0001", nil, "HeadObject", ""},
		{"HEAD", "/b", nil, "HeadBucket", ""},
		{"PUT", "/b/x", nil, "PutObject", ""},
		{"PUT", "/b/x", copyHdr, "CopyObject", ""},
		{"PUT", "/b/x?partNumber=1&uploadId=u", nil, "UploadPart", ""},
		{"POST", "/b?delete", nil, "DeleteObjects", ""},
		{"POST", "/b/x?uploads", nil, "CreateMultipartUpload", ""},
		{"POST", "/b/x?uploadId=u", nil, "CompleteMultipartUpload", ""},
		{"DELETE", "/b/x", nil, "DeleteObject", ""},
		{"DELETE", "/b/x?uploadId=u", nil, "AbortMultipartUpload", ""},
	} {
		u, err := url.Parse(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		op, prefix := classifyS3(tc.method, u.Path, u.Query(), tc.h)
		if op != tc.op || prefix != tc.prefix {
			t.Errorf("%s %s = %q, %q; want %q, %q", tc.method, tc.target, op, prefix, tc.op, tc.prefix)
		}
	}
}

func TestCountListsAndBursts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []s3Request{
		{at(0), "ListObjectsV2", ".ferry/log/"},
		{at(5), "GetObject", ""},
		{at(1010), "ListObjectsV2", ".ferry/log/"},
		{at(2020), "ListObjectsV2", ".ferry/trash/"},
		{at(2030), "ListObjectsV2", ""},
		{at(2040), "ListObjects", "d001/"},
		{at(2050), "HeadObject", ""},
	}
	if all, tree := countLists(reqs); all != 5 || tree != 2 {
		t.Errorf("countLists = %d, %d; want 5, 2", all, tree)
	}
	if n := bursts(reqs, burstGap); n != 3 {
		t.Errorf("bursts = %d, want 3", n)
	}
	if n := bursts(nil, burstGap); n != 0 {
		t.Errorf("bursts(nil) = %d, want 0", n)
	}
	if !isFerryArea(".ferry") || isFerryArea(".ferryx/a") || isFerryArea("") {
		t.Error("isFerryArea is wrong")
	}
	got := describeRequests(reqs)
	if got[`ListObjectsV2 prefix=".ferry/log/"`] != 2 || got["HeadObject"] != 1 {
		t.Errorf("describeRequests = %v", got)
	}
}

func TestParseCPUTime(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (ferry (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0"
	d, err := parseCPUTime(stat)
	if err != nil || d != 3250*time.Millisecond {
		t.Errorf("parseCPUTime = %v, %v; want 3.25s", d, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 eleven 12"} {
		if _, err := parseCPUTime(bad); err == nil {
			t.Errorf("parseCPUTime(%q) succeeded", bad)
		}
	}
}

func TestNearestRank(t *testing.T) {
	var cells []cell
	for _, v := range []float64{0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8} {
		cells = append(cells, num(v))
	}
	cells = append(cells, gaveUp(time.Minute))
	if got := nearestRank(cells, 0.95).String(); got != "> 60" {
		t.Errorf("p95 of 10 = %q, want the slowest, > 60", got)
	}
	if got := nearestRank(cells[:9], 0.5).String(); got != "0.500" {
		t.Errorf("p50 of 9 = %q, want 0.500", got)
	}
	if got := nearestRank(nil, 0.95); got.kind != notRun {
		t.Errorf("p95 of nothing = %v", got)
	}
}

func TestSyncKeys(t *testing.T) {
	if got := syncKey(0); got != "d000/f0000" {
		t.Errorf("syncKey(0) = %q", got)
	}
	if got := syncKey(99999); got != "d099/f0999" {
		t.Errorf("syncKey(99999) = %q", got)
	}
	for n, want := range map[int]int{1: 1, 1000: 1, 1001: 2, 10000: 10, 100000: 100} {
		if got := syncDirs(n); got != want {
			t.Errorf("syncDirs(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestWorkloadColumns(t *testing.T) {
	var sync workload
	for _, w := range workloads {
		if w.name == "s3-sync" {
			sync = w
		}
	}
	if !sync.s3 || !sync.ownMounts {
		t.Fatalf("s3-sync = %+v, want an S3 workload with its own mounts", sync)
	}
	if got := sync.contenders([]string{ferry, rcloneCopy, rcloneMount}); !slices.Equal(got, []string{ferry, rcloneMount}) {
		t.Errorf("s3-sync contenders = %v, want [ferry rclone-mount]", got)
	}
	if got := sync.contenders([]string{rcloneCopy}); len(got) != 0 {
		t.Errorf("s3-sync with rclone copy only = %v, want none", got)
	}
	if got := workloads[0].contenders([]string{plain, ferry}); !slices.Equal(got, []string{plain, ferry}) {
		t.Errorf("untar contenders = %v", got)
	}
}

func TestRenderSyncTable(t *testing.T) {
	r := results{}
	r.set(mSyncPickupMedian, ferry, num(0.53))
	r.set(mSyncPickupMedian, rcloneMount, atLeast(60))
	r.set(mSyncPollRequests, ferry, num(1))
	r.set(mSyncPollRequests, rcloneMount, num(0))
	r.set(mSyncFirstLs, ferry, atLeast(300))
	r.set(mSyncFirstRSS, ferry, num(250))
	r.set(mSyncRemountLs, ferry, num(0.3))
	r.set(mSyncRemountLists, ferry, count(3))
	r.set(mSyncRemountLists, rcloneMount, count(1))
	out := renderSyncTable(syncMeasures(100000), r)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "| Measure | ferry | rclone mount | target |" {
		t.Fatalf("header = %q", lines[0])
	}
	want := []string{
		"| 1 Pickup latency, a new file on A seen on B, median (s) | 0.530 | > 60.0 | ≤ 1.5 s: pass |",
		"| 2 Idle, 100000 objects in the bucket: S3 requests per poll (rclone: per second) | 1.00 | 0.000 | ≤ 1: pass |",
		"| 3 First mount of the 100000 objects: `ls` of the root answers (s) | > 300 | not run | < 2 s: FAIL |",
		"| 3 First mount: peak RSS (MB) | 250 | not run | ≤ 200 MB: FAIL |",
		"| 4 Remount: `ls` of the root answers (s) | 0.300 | not run | < 1 s: pass |",
		"| 4 Remount: LIST requests (ListObjectsV2) until ready | 3 | 1 | ≤ 0: FAIL |",
	}
	if !slices.Equal(lines[2:], want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(lines[2:], "\n"), strings.Join(want, "\n"))
	}
}

func TestReportSyncSection(t *testing.T) {
	rep := report{count: 1, syncTable: "| Measure | ferry | rclone mount | target |\n", syncObjects: 10000, transfers: 8}
	md := rep.markdown()
	for _, want := range []string{
		"## Two-way sync (MinIO on 127.0.0.1)",
		"### Two-way sync rows",
		"| Objects in the two-way sync bucket | 10000 |",
		"puts 10000 objects",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "%!") {
		t.Errorf("report has a formatting error:\n%s", md)
	}
	if strings.Contains((report{count: 1}).markdown(), "Two-way sync") {
		t.Error("report without the sync workload has its section")
	}
}

func TestPickupWait(t *testing.T) {
	if got := pickupWait(0); got != syncPollInterval/(2*pickupTrials) {
		t.Errorf("pickupWait(0) = %v", got)
	}
	if got := pickupWait(pickupTrials - 1); got != syncPollInterval-syncPollInterval/(2*pickupTrials) {
		t.Errorf("pickupWait(last) = %v", got)
	}
}
