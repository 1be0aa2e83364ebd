package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EUntarGoSource extracts the Go source tree (~12k files) into a
// mount, flushes, and checks the mount, the remote and the original tree
// are the same, with diff -r and by hashing every file.
func TestE2EUntarGoSource(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts ~150 MiB: skipped with -short")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	cancel()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	tarball := filepath.Join(t.TempDir(), "x.tar")
	run(t, "tar", "-C", goroot, "-cf", tarball, "src")

	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "100ms")
	runFor(t, 4*time.Minute, "tar", "-C", m.MP, "-xf", tarball)
	m.flush()

	orig := filepath.Join(goroot, "src")
	diffR(t, filepath.Join(m.MP, "src"), filepath.Join(d.Remote, "src"))
	diffR(t, orig, filepath.Join(d.Remote, "src"))
	n := compareTrees(t, m.MP, d.Remote, compareOpts{perm: true, fileMtimes: true})
	compareTrees(t, orig, filepath.Join(m.MP, "src"), compareOpts{perm: true, fileMtimes: true})
	if n < 1000 {
		t.Errorf("the mount holds only %d entries after extracting GOROOT/src", n)
	}
	if r := ferry(t, 30*time.Second, "journal", m.MP, "--state", "failed", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("failed ops after untar: %s", r)
	}
	m.unmount()
}
