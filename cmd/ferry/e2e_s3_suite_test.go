package main

// The folder backend's end-to-end suite, on a MinIO bucket: go-fuse's
// posixtest, kill -9 at random points of a workload, and an untar of part
// of the Go source tree. After each flush the bucket must equal the mount.

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ES3Posix runs go-fuse's POSIX suite on a mount of a bucket, with
// the folder suite's skips. Not parallel: FdLeak counts this process's
// file descriptors.
func TestE2ES3Posix(t *testing.T) {
	f := newS3(t)
	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	runPosixtest(t, m.MP)
	m.flush()
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	m.unmount()
}

// TestE2ES3CrashRemount is TestE2ECrashRemount on a bucket: kill -9 in
// the middle of a random workload, remount on the same cache dir, find
// every change that returned before the kill, flush, and find the bucket
// equal to the mount.
func TestE2ES3CrashRemount(t *testing.T) {
	t.Parallel()
	const iterations = 6
	f := newS3(t)
	seed := crashSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	d := f.dirs(t)
	model := newCrashModel(d.MP)
	const top = "w"
	writeBacks := []string{"0s", "20ms", "100ms", "500ms", "1h"}

	for i := 0; i <= iterations; i++ {
		wb := writeBacks[r.IntN(len(writeBacks))]
		m := f.mount(t, d, "--write-back", wb, "--transfers", strconv.Itoa(1+r.IntN(8)))
		if i == 0 {
			if err := os.Mkdir(model.abs(top), 0o755); err != nil {
				t.Fatal(err)
			}
		} else if bad := model.verify(t, top); len(bad) > 0 {
			model.explain(t, bad[:min(len(bad), 10)])
		}
		if r := ferry(t, 3*time.Minute, "flush", m.MP); r.code != 0 {
			t.Errorf("%s", r)
		}
		if diff := f.compareBucket(t, d.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
			logJournal(t, d.MP, diff)
			model.explain(t, diff)
		}
		if t.Failed() {
			t.Fatalf("iteration %d (write-back %s): mount or bucket does not hold what the workload did before the kill", i, wb)
		}
		if i == iterations {
			m.unmount()
			break
		}
		model.load(t, top)

		w := killDuringWorkload(t, m, model, r, top, i, 100, 400)
		t.Logf("iteration %d: write-back %s, %d ops before the kill, in flight: %q", i, wb, w.ops, model.uncertain)
		wantStale(t, d.MP)
	}
}

// TestE2ES3UntarGoSource extracts src/net and src/strings of GOROOT (a
// few hundred files) into a mount of a bucket, flushes, and compares the
// original, the mount and the bucket; then mounts the bucket afresh on an
// empty cache and compares what it imports and downloads.
func TestE2ES3UntarGoSource(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	cancel()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	tarball := filepath.Join(t.TempDir(), "x.tar")
	run(t, "tar", "-C", goroot, "-cf", tarball, "src/net", "src/strings")

	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	runFor(t, 3*time.Minute, "tar", "-C", m.MP, "-xf", tarball)
	m.flush()

	subtrees := []string{"src/net", "src/strings"}
	n := 0
	for _, sub := range subtrees {
		diffR(t, filepath.Join(goroot, sub), filepath.Join(m.MP, sub))
		n += compareTrees(t, filepath.Join(goroot, sub), filepath.Join(m.MP, sub), compareOpts{perm: true, fileMtimes: true})
	}
	if n < 300 {
		t.Errorf("GOROOT's src/net and src/strings hold only %d entries", n)
	}
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	if r := ferry(t, 30*time.Second, "journal", m.MP, "--state", "failed", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("failed ops after untar: %s", r)
	}
	m.unmount()

	// A second machine: a fresh cache imports the tree, and reading it
	// downloads every file.
	d2 := f.dirs(t)
	m2 := f.mount(t, d2, "--write-back", "100ms")
	for _, sub := range subtrees {
		diffR(t, filepath.Join(goroot, sub), filepath.Join(m2.MP, sub))
		compareTrees(t, filepath.Join(goroot, sub), filepath.Join(m2.MP, sub), compareOpts{perm: true, fileMtimes: true})
	}
	m2.unmount()
}
