//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// The bench mounts through FUSE and reads /proc: it runs on Linux only.
// These stubs let its pure parts build and test elsewhere.

func detach(*exec.Cmd) {}

func dropCaches() error { return errors.ErrUnsupported }

func spreadSubdirs(string) error { return errors.ErrUnsupported }

func syncAll() {}
