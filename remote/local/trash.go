package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// trash moves the file or symlink p into the area as
// trash/<YYYY-MM-DD UTC>/<p>, replacing what was trashed under that name the
// same day. The rename keeps the content, modification time, mode and
// recorded hash. The caller holds l.mu and has checked p's version.
func (l *Local) trash(op, p string, now time.Time) error {
	top, err := l.openRoot(op, p)
	if err != nil {
		return err
	}
	defer top.Close()
	name, dir, err := l.trashTarget(op, p, now)
	if err != nil {
		return fail(op, p, err, writing)
	}
	defer dir.Close()
	if err := top.Rename(p, ferryDir+"/"+name); err != nil {
		return fail(op, p, err, writing)
	}
	return fail(op, p, syncDir(dir), writing)
}

// trashTarget returns the area name p is trashed under at now, and its
// directory, made if missing. When the trash already holds a directory
// there, or a file in place of one of its parents (p was a file one time
// and a directory another that day), p goes to trash/<date>/long/<sha256
// of p> instead, the name S3 uses for paths too long to keep.
func (l *Local) trashTarget(op, p string, now time.Time) (string, *os.Root, error) {
	day := "trash/" + now.UTC().Format("2006-01-02") + "/"
	name := day + p
	dir, err := l.areaDir(op, name)
	if err == nil || !remote.IsPermanent(fail(op, p, err, writing)) {
		return name, dir, err
	}
	sum := sha256.Sum256([]byte(p))
	name = day + "long/" + hex.EncodeToString(sum[:])
	dir, err = l.areaDir(op, name)
	return name, dir, err
}

// errDirInTheWay refuses an area name that is a directory.
var errDirInTheWay = errors.New("a directory is in the way")

// areaDir opens (making it if needed) the directory of the area object
// name, and checks that name itself is not a directory.
func (l *Local) areaDir(op, name string) (*os.Root, error) {
	p := ferryDir + "/" + name
	dir, base := split(p)
	d, err := l.openDir(op, p, dir, true)
	if err != nil {
		return nil, err
	}
	if fi, err := d.Lstat(base); err == nil && fi.IsDir() {
		d.Close()
		return nil, invalid(op, p, errDirInTheWay)
	}
	return d, nil
}
