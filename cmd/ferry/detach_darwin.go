package main

import "golang.org/x/sys/unix"

// detach forcibly unmounts path (macOS has no lazy unmount).
func detach(path string) error { return unix.Unmount(path, unix.MNT_FORCE) }
