//go:build !linux && !darwin

package vfs

import "syscall"

func statfs(dir string) (StatFS, error) { return StatFS{}, syscall.ENOTSUP }
