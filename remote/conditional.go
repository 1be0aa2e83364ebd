package remote

import "context"

// Conditional is implemented by remotes that can change the metadata or
// the name of a file only if it still has the version the caller last saw.
// Without it, a metadata update or rename made after someone else changed
// the file would carry their version along and hide the conflict.
type Conditional interface {
	// SetMetaIf is SetMeta when the file at path has version ifMatch, and
	// ErrPrecondition (changing nothing) otherwise.
	SetMetaIf(ctx context.Context, path string, meta Meta, ifMatch string) error
	// RenameIf is Rename of a file when it has version ifMatch and what is
	// at to meets dst (IfNoneMatch: nothing; IfMatch: that version; zero:
	// anything), and ErrPrecondition (moving nothing) otherwise. A retry
	// of a rename that completed earlier succeeds.
	RenameIf(ctx context.Context, from, to, ifMatch string, dst Cond) error
}
