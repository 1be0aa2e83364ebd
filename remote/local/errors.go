package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/ferry-fs/ferry/remote"
)

// errSymlinkParent rejects a path that would traverse a symlink stored in
// the folder: a symlink is a leaf of the remote tree, never a directory.
var errSymlinkParent = fmt.Errorf("%w: the path goes through a symlink", remote.ErrPermanent)

// opError is the error every method returns for a failed filesystem call: one
// line naming the operation, the remote path and the cause. It unwraps to its
// class (remote.ErrNotFound, remote.ErrPermanent, or none for a transient
// failure) and to the cause, so both errors.Is(err, remote.ErrPermanent) and
// errors.Is(err, fs.ErrPermission) hold for a permission error.
type opError struct {
	op, path string
	class    error // nil: transient
	err      error
}

func (e *opError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.op, e.path, causeOf(e.err).Error())
}

func (e *opError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// causeOf strips the wrappers the os package adds (which name temp files and
// absolute paths) down to the errno, when there is one.
func causeOf(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// mode says what a missing path means to the caller.
type mode int

const (
	// reading: a missing path, or one whose parent is a file, is
	// remote.ErrNotFound.
	reading mode = iota
	// writing: a missing path means a directory vanished under a concurrent
	// change; a retry recreates it, so it is transient. A parent that is a
	// file is permanent.
	writing
)

// permanentErrno reports whether a failure with errno e is one no retry
// can fix. Everything else (EIO, ENOSPC, EMFILE, ...) is transient.
func permanentErrno(e syscall.Errno) bool {
	switch e {
	case syscall.EACCES, syscall.EPERM, syscall.ENAMETOOLONG, syscall.EINVAL,
		syscall.ENOTDIR, syscall.EISDIR, syscall.EEXIST, syscall.ENOTEMPTY,
		syscall.EROFS, syscall.ELOOP, syscall.EFBIG, syscall.EXDEV:
		return true
	}
	return false
}

// fail wraps err from operation op on remote path p in an opError with its
// class. This is the one place filesystem errors are classified. Context
// errors and errors already classified pass through unchanged.
func fail(op, p string, err error, m mode) error {
	var oe *opError
	if err == nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &oe) {
		return err
	}
	return &opError{op: op, path: p, class: classify(err, m), err: err}
}

// classify returns remote.ErrNotFound, remote.ErrPermanent or nil
// (transient) for a filesystem error.
func classify(err error, m mode) error {
	var errno syscall.Errno
	hasErrno := errors.As(err, &errno)
	switch {
	case errors.Is(err, remote.ErrPermanent):
		return nil // already in the chain
	case errors.Is(err, fs.ErrNotExist) || (m == reading && hasErrno && errno == syscall.ENOTDIR):
		if m == reading {
			return remote.ErrNotFound
		}
		return nil
	case hasErrno:
		if permanentErrno(errno) {
			return remote.ErrPermanent
		}
		return nil
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrInvalid):
		return remote.ErrPermanent
	}
	// The os package reports a few refusals without an errno, notably
	// os.Root's "path escapes from parent". A retry cannot change them.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return remote.ErrPermanent
	}
	return nil
}

// invalid reports a path or argument that can never be accepted.
func invalid(op, p string, err error) error {
	return &opError{op: op, path: p, class: remote.ErrPermanent, err: err}
}

// notFound reports a missing path that the caller checked for explicitly.
func notFound(op, p string) error {
	return &opError{op: op, path: p, class: remote.ErrNotFound, err: fs.ErrNotExist}
}

// precondition reports a Cond that does not hold.
func precondition(op, p, why string) error {
	return &opError{op: op, path: p, err: fmt.Errorf("%w: %s", remote.ErrPrecondition, why)}
}
