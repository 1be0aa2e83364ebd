package vfs

import (
	"maps"
	"slices"
	"strings"
	"syscall"

	"github.com/ferry-fs/ferry/cache"
)

// Xattr flags, as in setxattr(2).
const (
	XattrCreate  = 1
	XattrReplace = 2
)

const xattrMaxValue = 64 << 10

// GetXattr returns the value of extended attribute name of node id.
// Only the user namespace is stored; other names report ENODATA.
func (fs *FS) GetXattr(id uint64, name string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return nil, err
	}
	v, ok := n.Xattrs[name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return v, nil
}

// ListXattr returns the names of node id's extended attributes.
func (fs *FS) ListXattr(id uint64) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(n.Xattrs)), nil
}

// SetXattr sets extended attribute name of node id to value.
func (fs *FS) SetXattr(id uint64, name string, value []byte, flags uint32) error {
	if !strings.HasPrefix(name, "user.") || len(name) <= len("user.") {
		return syscall.ENOTSUP
	}
	if len(name) > 255 {
		return syscall.ERANGE
	}
	if len(value) > xattrMaxValue {
		return syscall.E2BIG
	}
	return fs.changeXattrs(id, func(x map[string][]byte) error {
		_, exists := x[name]
		switch {
		case flags&XattrCreate != 0 && exists:
			return syscall.EEXIST
		case flags&XattrReplace != 0 && !exists:
			return syscall.ENODATA
		}
		x[name] = slices.Clone(value)
		return nil
	})
}

// RemoveXattr removes extended attribute name of node id.
func (fs *FS) RemoveXattr(id uint64, name string) error {
	return fs.changeXattrs(id, func(x map[string][]byte) error {
		if _, ok := x[name]; !ok {
			return syscall.ENODATA
		}
		delete(x, name)
		return nil
	})
}

func (fs *FS) changeXattrs(id uint64, change func(map[string][]byte) error) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.writable(); err != nil {
		return err
	}
	n, err := fs.get(id)
	if err != nil {
		return err
	}
	x := maps.Clone(n.Xattrs)
	if x == nil {
		x = map[string][]byte{}
	}
	if err := change(x); err != nil {
		return err
	}
	nn := n.Node
	nn.Xattrs = x
	if !n.unlinked {
		b := new(cache.Batch)
		b.PutNode(&nn)
		if err := fs.store.Commit(b); err != nil {
			return err
		}
	}
	n.Node = nn
	return nil
}
