package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixSkips are the posixtest cases ferry does not run, and why. Hard
// links are unsupported on purpose (a cloud folder has no such thing):
// link(2) fails with EPERM.
var posixSkips = map[string]string{
	"Link":             "needs link(2): hard links are unsupported (EPERM)",
	"LinkUnlinkRename": "needs link(2): hard links are unsupported (EPERM)",
	// It expects a read lock on a second fd of the same process to conflict
	// with a write lock on the first: the OFD-lock semantics of go-fuse's
	// loopback filesystem. POSIX record locks belong to the process, so the
	// request succeeds; it fails the same way on ext4 (checked on the test
	// host). ferry leaves locks to the kernel's local implementation.
	"FcntlFlockLocksFile": "expects OFD-lock semantics from F_SETLK; POSIX locks of one process never conflict (fails on ext4 too)",
}

// TestE2EPosix runs go-fuse's POSIX conformance suite against a live
// mount, each case in a fresh directory. It is not parallel: FdLeak counts
// the file descriptors of this process, which other tests would disturb.
func TestE2EPosix(t *testing.T) {
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "100ms")
	runPosixtest(t, m.MP)
	// Whatever the suite left behind must reach the remote intact.
	m.flush()
	compareTrees(t, m.MP, d.Remote, compareOpts{perm: true})
}

// runPosixtest runs every case of go-fuse's posixtest in its own directory
// of the mount at mp, skipping those in posixSkips.
func runPosixtest(t *testing.T, mp string) {
	for _, name := range slices.Sorted(maps.Keys(posixtest.All)) {
		fn := posixtest.All[name]
		t.Run(name, func(t *testing.T) {
			if why, ok := posixSkips[name]; ok {
				t.Skip(why)
			}
			dir := filepath.Join(mp, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			fn(t, dir)
		})
	}
}
