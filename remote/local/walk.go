package local

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"

	"github.com/ferry-fs/ferry/remote"
)

// Walk implements remote.Walker: it lists the folder depth first, one
// directory open at a time, with the entries List gives (hash and symlink
// target included), leaving out what List leaves out: temp files, the
// area, unsupported kinds of files and the names Skipped reports. A
// directory removed or replaced while the walk runs is left out silently.
func (l *Local) Walk(ctx context.Context, fn func(remote.Entry) error) error {
	const op = "walk"
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.walkTree(ctx, op, "", func(d *os.Root, dir, name string) (bool, error) {
		e, ok, err := l.child(d, dir, name)
		if err != nil {
			return false, fail(op, join(dir, name), err, reading)
		}
		if !ok {
			return false, nil
		}
		return e.Dir, fn(e)
	})
}

// walkTree calls visit for each name in the directory top (a path below the
// folder) and in the directories below it that visit asks to descend into,
// a directory's own name always before the names in it. Only one directory
// is open at a time, whatever the depth or width of the tree. A missing top
// is remote.ErrNotFound; a directory below it that has vanished since it
// was listed is passed over. Errors from visit are returned as they are.
func (l *Local) walkTree(ctx context.Context, op, top string, visit func(d *os.Root, dir, name string) (bool, error)) error {
	stack := []string{top}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d, err := l.openDir(op, dir, dir, false)
		if err != nil {
			err = fail(op, dir, err, reading)
			if dir != top && (errors.Is(err, remote.ErrNotFound) || errors.Is(err, errSymlinkParent)) {
				continue
			}
			return err
		}
		var below []string
		err = readDir(ctx, op, dir, d, func(name string) error {
			descend, err := visit(d, dir, name)
			if descend {
				below = append(below, join(dir, name))
			}
			return err
		})
		d.Close()
		if err != nil {
			return err
		}
		slices.Reverse(below) // visit them in the order they were read
		stack = append(stack, below...)
	}
	return nil
}

// readDir calls fn for each name in the directory d at path dir, reading
// listBatch names at a time and checking ctx between batches. Errors from
// the filesystem are classified; errors from fn are returned as they are.
func readDir(ctx context.Context, op, dir string, d *os.Root, fn func(name string) error) error {
	f, err := d.Open(".")
	if err != nil {
		return fail(op, dir, err, reading)
	}
	defer f.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, rerr := f.Readdirnames(listBatch)
		for _, name := range names {
			if err := fn(name); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || (rerr == nil && len(names) == 0) {
			return nil
		}
		if rerr != nil {
			return fail(op, dir, rerr, reading)
		}
	}
}
