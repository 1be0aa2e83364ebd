package vfs

import "syscall"

func statfs(dir string) (StatFS, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return StatFS{}, err
	}
	return StatFS{Blocks: st.Blocks, Bfree: st.Bfree, Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree,
		Bsize: st.Bsize, Frsize: st.Bsize}, nil
}
