package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestE2ES3WriteWhileStreaming: a file whose content is still on the
// remote only is read through a stream; opening it for writing while that
// read is open (an editor saving a file a viewer is reading) must work,
// and both see what they should. The stream goes around the kernel's page
// cache, so the kernel does not refuse the write's passthrough open.
func TestE2ES3WriteWhileStreaming(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	old := strings.Repeat("the remote's version\n", 50000) // 1 MiB: streamed
	f.putObjects(t, map[string]string{"doc.txt": old, "map.txt": old}, 1)
	m := f.mount(t, f.dirs(t), "--rescan-interval", "0")
	waitImported(t, m.MP)
	p := filepath.Join(m.MP, "doc.txt")

	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil || string(buf[:21]) != old[:21] {
		t.Fatalf("read the streamed file: %q, %v", buf[:21], err)
	}
	if err := os.WriteFile(p, []byte("the new version\n"), 0o644); err != nil {
		t.Fatalf("write the file while a read of it streams: %v", err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "the new version\n" {
		t.Fatalf("read back: %q, %v", got, err)
	}

	// A program can still map a file that streams (it runs a binary
	// straight from the bucket).
	mf, err := os.Open(filepath.Join(m.MP, "map.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	b, err := syscall.Mmap(int(mf.Fd()), 0, len(old), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap a streaming file: %v", err)
	}
	defer syscall.Munmap(b)
	if string(b) != old {
		t.Fatalf("the mapped file differs from the remote's (%d bytes)", len(b))
	}
}
