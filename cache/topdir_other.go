//go:build !linux

package cache

func spreadSubdirs(string) {}
