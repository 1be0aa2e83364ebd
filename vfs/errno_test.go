package vfs

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// TestErrno: the one errno mapping. A remote that cannot deliver is EIO,
// whatever errno the network gave (a read of an uncached file offline
// said ECONNREFUSED); a full cache disk stays ENOSPC even then.
func TestErrno(t *testing.T) {
	netErr := &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{syscall.ENOTEMPTY, syscall.ENOTEMPTY},
		{fmt.Errorf("%w: %w", errOffline, netErr), syscall.EIO},
		{fmt.Errorf("%w: %w", errOffline, syscall.ENOSPC), syscall.ENOSPC},
		{fmt.Errorf("write: %w", syscall.EDQUOT), syscall.ENOSPC},
		{os.ErrNotExist, syscall.ENOENT},
		{fmt.Errorf("something else"), syscall.EIO},
	} {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
