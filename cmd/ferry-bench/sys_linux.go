//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// detach puts a mount daemon in its own process group, so that a Ctrl-C
// at the terminal reaches only the bench, which then unmounts in order;
// and asks the kernel to SIGTERM the daemon (which unmounts) should the
// bench die without cleaning up.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// dropCaches writes back and then empties the page cache, so that a read
// measures the filesystem rather than memory, and so that one contender's
// leftovers do not slow the next (see settle). It needs root; callers
// treat failure as "caches stayed warm".
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// spreadSubdirs asks ext4 to place each new subdirectory of dir in a
// block group of its own, as it does for top-level directories (chattr +T,
// the Orlov allocator's "top directory" hint). On ext4 without a journal,
// creating files is many times slower in a group where inodes were deleted
// in the last minutes (the allocator skips them one by one), so without
// this each contender would pay for the files its predecessor removed.
// Other filesystems ignore or refuse the flag; both are fine.
func spreadSubdirs(dir string) error {
	out, err := exec.Command("chattr", "+T", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chattr +T: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// syncAll writes back every dirty page, so that what a contender reads
// was written before its clock started, not while it runs.
func syncAll() { syscall.Sync() }
