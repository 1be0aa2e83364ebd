package cache

import "golang.org/x/sys/unix"

// spreadSubdirs asks ext4 to place dir's subdirectories in different block
// groups (chattr +T). On a disk with many recently deleted files, creating
// content files in a crowded block group costs up to 40 times more. Other
// filesystems ignore the flag or refuse it; either is fine.
func spreadSubdirs(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFL != 0 {
		return
	}
	unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}

// fsTopdirFL is FS_TOPDIR_FL from linux/fs.h.
const fsTopdirFL = 0x00020000
