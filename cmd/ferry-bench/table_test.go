package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFormatNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{1234.5, "1234"}, {100, "100"}, {12.34, "12.3"}, {1.234, "1.23"}, {0.1234, "0.123"}, {0, "0.000"},
	} {
		if got := formatNum(tc.v); got != tc.want {
			t.Errorf("formatNum(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	if r, ok := ratio(num(6), num(2)); !ok || r != 3 {
		t.Errorf("ratio(6, 2) = %v, %v; want 3, true", r, ok)
	}
	for _, tc := range [][2]cell{
		{num(1), num(0)},
		{num(1), failedf("boom")},
		{failedf("boom"), num(1)},
		{{}, num(1)},
		{num(1), note("n/a")},
	} {
		if _, ok := ratio(tc[0], tc[1]); ok {
			t.Errorf("ratio(%v, %v) is known, want unknown", tc[0], tc[1])
		}
	}
}

func TestTargetJudge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tgt   target
		ferry cell
		plain cell
		want  verdict
	}{
		{"time within ratio", target{maxRatio, 3}, num(3), num(1), pass},
		{"time over ratio", target{maxRatio, 3}, num(3.1), num(1), fail},
		{"throughput at ratio", target{minRatio, 0.7}, num(70), num(100), pass},
		{"throughput under ratio", target{minRatio, 0.7}, num(69), num(100), fail},
		{"absolute within", target{maxValue, 150}, num(149), note("n/a"), pass},
		{"absolute over", target{maxValue, 150}, num(151), note("n/a"), fail},
		{"below limit", target{belowValue, 2}, num(1.99), cell{}, pass},
		{"at a below limit", target{belowValue, 2}, num(2), cell{}, fail},
		{"gave up past the limit", target{belowValue, 2}, atLeast(300), cell{}, fail},
		{"gave up at the limit", target{maxValue, 60}, atLeast(60), cell{}, fail},
		{"gave up short of the limit", target{maxValue, 60}, atLeast(30), cell{}, unknown},
		{"gave up, ratio", target{maxRatio, 3}, atLeast(30), num(1), unknown},
		{"ferry not run", target{maxRatio, 3}, cell{}, num(1), unknown},
		{"ferry failed", target{maxRatio, 3}, failedf("mount"), num(1), unknown},
		{"plain failed", target{minRatio, 0.7}, num(1), failedf("disk"), unknown},
		{"no target", target{}, num(1), num(1), unknown},
	} {
		if got := tc.tgt.judge(tc.ferry, tc.plain); got != tc.want {
			t.Errorf("%s: judge = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTargetString(t *testing.T) {
	for _, tc := range []struct {
		tgt  target
		want string
	}{
		{target{maxRatio, 3}, "≤ 3× plain"},
		{target{maxRatio, 2.5}, "≤ 2.5× plain"},
		{target{minRatio, 0.7}, "≥ 70% of plain"},
		{target{maxValue, 150}, "≤ 150"},
		{target{belowValue, 2}, "< 2"},
		{target{}, ""},
	} {
		if got := tc.tgt.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.tgt, got, tc.want)
		}
	}
}

func TestRenderTable(t *testing.T) {
	r := results{}
	r.set(mUntar, plain, num(2))
	r.set(mUntar, ferry, num(5))
	r.set(mUntar, rclone, num(20))
	r.set(mSeqWrite, plain, num(1000))
	r.set(mSeqWrite, ferry, num(500))
	r.set(mSeqRead, plain, num(1000))
	r.set(mSeqRead, ferry, failed(errors.New("read seq.bin:\ninput/output error | bad")))
	r.set(mPeakRSS, plain, note("n/a"))
	r.set(mPeakRSS, ferry, num(90))

	out := renderTable(measures(1<<30), r)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "| Measure | plain | ferry | rclone | ferry/plain | target |" {
		t.Fatalf("header = %q", lines[0])
	}
	row := func(prefix string) string {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, "| "+prefix) {
				return l
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, out)
		return ""
	}
	for prefix, want := range map[string]string{
		"Untar Go source tree": "| Untar Go source tree (s) | 2.00 | 5.00 | 20.0 (10.0×) | 2.50× | ≤ 3× plain: pass |",
		"Sequential write":     "| Sequential write 1 GiB + fsync (MB/s) | 1000 | 500 | not run | 0.500× | ≥ 70% of plain: FAIL |",
		"Sequential read":      `| Sequential read 1 GiB, cold cache (MB/s) | 1000 | error: input/output error \| bad | not run |  | ≥ 70% of plain |`,
		"Peak RSS":             "| Peak RSS of the mount during untar (MB) | n/a | 90.0 | not run |  | ≤ 150 MB: pass |",
	} {
		if got := row(prefix); got != want {
			t.Errorf("row %s:\n got  %s\n want %s", prefix, got, want)
		}
	}
	for _, absent := range []string{"WARNING", "Create"} {
		if strings.Contains(out, absent) {
			t.Errorf("row %q shown though no contender has a cell in it:\n%s", absent, out)
		}
	}

	r.set(mUntarDiff, ferry, note("2 differences, first: Only in remote: x"))
	if out := renderTable(measures(1<<30), r); !strings.Contains(out, "| WARNING: diff -r mount vs remote after flush | not run | 2 differences") {
		t.Errorf("warning row missing:\n%s", out)
	}
}

func TestShortError(t *testing.T) {
	if got := shortError(errors.New("start ferry:\n  fork/exec bin/ferry: no such file or directory")); got != "fork/exec bin/ferry: no such file or directory" {
		t.Errorf("shortError kept %q", got)
	}
	long := strings.Repeat("x", 100)
	if got := shortError(errors.New(long)); len([]rune(got)) != 70 || !strings.HasSuffix(got, "...") {
		t.Errorf("shortError(100 chars) = %q", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB": 1 << 30, "256MiB": 256 << 20, "64M": 64 << 20, "4096": 4096, "1 GiB": 1 << 30, "2KB": 2000, "10B": 10,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "lots", "1TiB", "1.5GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded, want an error", in)
		}
	}
	for n, want := range map[int64]string{1 << 30: "1 GiB", 256 << 20: "256 MiB", 1536 << 20: "1536 MiB", 1000: "1000 B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPickList(t *testing.T) {
	got, err := pickList("-only", "rclone, plain", contenderNames)
	if err != nil || !slices.Equal(got, []string{plain, rclone}) {
		t.Errorf("pickList = %v, %v; want [plain rclone] in column order", got, err)
	}
	if _, err := pickList("-only", "plain,nfs", contenderNames); err == nil {
		t.Error("unknown contender accepted")
	}
	if _, err := pickList("-only", " , ", contenderNames); err == nil {
		t.Error("empty selection accepted")
	}
}

const sampleMountinfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
90 27 0:50 / /tmp/ferry-bench-1/untar-ferry/mnt rw,nosuid,nodev,relatime shared:5 - fuse.ferry ferry rw,user_id=0
91 27 0:51 / /tmp/my\040mount rw,relatime - fuse.rclone /src/remote rw
92 27 0:52 / /tmp/stacked rw - fuse.rclone r rw
93 92 0:53 / /tmp/stacked rw - tmpfs tmpfs rw
`

func TestMountinfo(t *testing.T) {
	entries := parseMountinfo(sampleMountinfo)
	if len(entries) != 6 {
		t.Fatalf("parsed %d entries, want 6: %+v", len(entries), entries)
	}
	if e := entries[2]; e.point != "/tmp/ferry-bench-1/untar-ferry/mnt" || e.fstype != "fuse.ferry" || e.source != "ferry" {
		t.Errorf("optional fields mis-parsed: %+v", e)
	}
	for point, want := range map[string]bool{
		"/tmp/ferry-bench-1/untar-ferry/mnt": true,
		"/tmp/my mount":                      true,  // octal escape undone
		"/tmp/stacked":                       false, // tmpfs mounted on top of the FUSE mount
		"/dev/shm":                           false,
		"/tmp/ferry-bench-1":                 false,
	} {
		if got := fuseMountedAt(entries, point); got != want {
			t.Errorf("fuseMountedAt(%q) = %v, want %v", point, got, want)
		}
	}
	if got := mountsUnder(entries, "/tmp/ferry-bench-1"); !slices.Equal(got, []string{"/tmp/ferry-bench-1/untar-ferry/mnt"}) {
		t.Errorf("mountsUnder = %v", got)
	}
	if got := mountsUnder(entries, "/tmp/ferry-bench-10"); len(got) != 0 {
		t.Errorf("mountsUnder matched a sibling with a common prefix: %v", got)
	}
	if e, ok := filesystemOf(entries, "/tmp/ferry-bench-1/plain"); !ok || e.point != "/" || e.fstype != "ext4" {
		t.Errorf("filesystemOf(scratch) = %+v, %v; want the root ext4", e, ok)
	}
	if e, _ := filesystemOf(entries, "/dev/shm/x"); e.point != "/dev/shm" {
		t.Errorf("filesystemOf(/dev/shm/x) = %+v, want the tmpfs", e)
	}
}

func TestCombine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cells []cell
		want  string
	}{
		{"one", []cell{num(2)}, "2.00"},
		{"odd median", []cell{num(9), num(1), num(3)}, "3.00"},
		{"even median", []cell{num(4), num(1), num(2), num(10)}, "3.00"},
		{"a failure wins", []cell{num(1), failedf("mount"), failedf("later")}, "error: mount"},
		{"notes", []cell{note("n/a"), note("n/a")}, "n/a"},
		{"gave up in the middle", []cell{num(1), atLeast(60), atLeast(60)}, "> 60.0"},
		{"gave up past the middle", []cell{num(1), num(2), atLeast(60)}, "2.00"},
		{"even, one gave up", []cell{num(1), atLeast(3)}, "> 2.00"},
		{"counts", []cell{count(3), count(1), count(2)}, "2"},
		{"counts, even", []cell{count(1), count(2)}, "1.50"},
		{"nothing", nil, "not run"},
	} {
		if got := combine(tc.cells).String(); got != tc.want {
			t.Errorf("%s: combine = %q, want %q", tc.name, got, tc.want)
		}
	}
}
