//go:build !unix

package cache

import "os"

func flock(f *os.File) error { return nil }
