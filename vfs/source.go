package vfs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

var _ journal.Source = (*FS)(nil)

// live returns node id unless it is gone. Callers hold mu.
func (fs *FS) live(id uint64) (*node, error) {
	n, err := fs.get(id)
	if errors.Is(err, syscall.ENOENT) || (err == nil && n.unlinked) {
		return nil, journal.ErrGone
	}
	return n, err
}

func (n *node) meta() remote.Meta {
	m := remote.Meta{ModTime: time.Unix(0, n.Mtime), Mode: os.FileMode(n.Mode & 0o777), UID: n.UID, GID: n.GID}
	switch n.Kind {
	case cache.Symlink:
		m.Mode |= os.ModeSymlink
		m.Link = n.Link
	case cache.Dir:
		m.Mode |= os.ModeDir
	}
	return m
}

// NodeMeta implements journal.Source.
func (fs *FS) NodeMeta(id uint64) (remote.Meta, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.live(id)
	if err != nil {
		return remote.Meta{}, err
	}
	return n.meta(), nil
}

// OpenContent implements journal.Source: a read handle on the content of a
// file with a generation check, so the uploader can tell a torn read.
func (fs *FS) OpenContent(id uint64) (*journal.Content, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.live(id)
	if err != nil {
		return nil, err
	}
	if n.Kind == cache.Symlink {
		return &journal.Content{R: strings.NewReader(""), Meta: n.meta(),
			Changed: func() bool { return false }, Close: func() error { return nil }}, nil
	}
	if n.Kind != cache.File {
		return nil, journal.ErrGone
	}
	if n.Absent {
		return &journal.Content{R: strings.NewReader(""), Size: n.Size, Meta: n.meta(), Absent: true,
			Changed: func() bool { return false }, Close: func() error { return nil }}, nil
	}
	f, err := fs.store.OpenContent(id, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, journal.ErrGone
	}
	if err != nil {
		return nil, err
	}
	gen := n.gen
	return &journal.Content{R: f, Size: n.Size, Meta: n.meta(), Close: f.Close,
		Changed: func() bool {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			return n.gen != gen || n.unlinked || n.writers > 0
		}}, nil
}
