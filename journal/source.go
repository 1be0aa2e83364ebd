package journal

import (
	"errors"
	"io"

	"github.com/ferry-fs/ferry/remote"
)

// ErrGone means the node no longer exists locally; its action has nothing to do.
var ErrGone = errors.New("node no longer exists")

// Source is what the uploader needs from the mount: the current state of a
// node. The filesystem implements it.
type Source interface {
	// OpenContent returns a snapshot handle on file or symlink id's content.
	OpenContent(id uint64) (*Content, error)
	// NodeMeta returns the metadata of node id.
	NodeMeta(id uint64) (remote.Meta, error)
}

// Content is a file's content as of OpenContent.
type Content struct {
	R    io.ReaderAt
	Size int64
	Meta remote.Meta
	// Absent: the content is not cached, only on the remote (R is empty).
	Absent bool
	// Changed reports whether the file was modified since OpenContent.
	Changed func() bool
	Close   func() error
}
