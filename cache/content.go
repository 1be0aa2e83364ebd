package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ContentPath is where the content of file id lives. Content is keyed by
// the stable id, so renames never touch it.
func (s *Store) ContentPath(id uint64) string {
	return filepath.Join(s.dir, "data", fmt.Sprintf("%02x", id&0xff), strconv.FormatUint(id, 16))
}

// OpenContent opens the content file of id, creating it when create is set.
func (s *Store) OpenContent(id uint64, create bool) (*os.File, error) {
	p := s.ContentPath(id)
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o600)
	if create && errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(p, flags, 0o600)
	}
	return f, err
}

// CreateContent creates an empty content file for a new id. It avoids
// truncating: ext4 flushes a file on close when it was truncated to zero.
func (s *Store) CreateContent(id uint64) (*os.File, error) {
	p := s.ContentPath(id)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Left by a crash before the id was recorded as used.
		return os.OpenFile(p, os.O_RDWR|os.O_TRUNC, 0o600)
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		return os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	return f, err
}

// RemoveContent deletes the content of id. A missing file is not an error.
func (s *Store) RemoveContent(id uint64) error {
	err := os.Remove(s.ContentPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// CollectGarbage removes content files whose id keep reports false: content
// of files that were unlinked while open when the process died.
func (s *Store) CollectGarbage(keep func(id uint64) bool) (removed int, err error) {
	root := filepath.Join(s.dir, "data")
	subs, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	for _, sub := range subs {
		names, err := os.ReadDir(filepath.Join(root, sub.Name()))
		if err != nil {
			continue
		}
		for _, e := range names {
			id, perr := strconv.ParseUint(e.Name(), 16, 64)
			if perr != nil || !keep(id) {
				if os.Remove(filepath.Join(root, sub.Name(), e.Name())) == nil {
					removed++
				}
			}
		}
	}
	return removed, nil
}
