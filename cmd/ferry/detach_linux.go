package main

import "syscall"

// detach lazily unmounts path, as `umount -l` does.
func detach(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }
