package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestE2ES3SymlinkReplacesFile: `ln -sf` over an uploaded file (a symlink
// renamed over it), a symlink made where a file was removed, and a file
// renamed over an uploaded symlink end in the bucket as the new object
// alone (a file's and a symlink's keys differ) and as the new entry on the
// other device, with no conflict copy.
func TestE2ES3SymlinkReplacesFile(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	flags := []string{"--write-back", "100ms", "--poll-interval", "1s", "--rescan-interval", "0"}
	a := f.mount(t, f.dirs(t), append(flags, "--device-name", "devA")...)
	b := f.mount(t, f.dirs(t), append(flags, "--device-name", "devB")...)
	writeFile(t, filepath.Join(a.MP, "f1"), []byte("one\n"))
	writeFile(t, filepath.Join(a.MP, "f2"), []byte("two\n"))
	if err := os.Symlink("old", filepath.Join(a.MP, "l3")); err != nil {
		t.Fatal(err)
	}
	a.flush()
	if out, err := exec.Command("ln", "-sf", "target1", filepath.Join(a.MP, "f1")).CombinedOutput(); err != nil {
		t.Fatalf("ln -sf: %v %s", err, out)
	}
	if err := os.Remove(filepath.Join(a.MP, "f2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target2", filepath.Join(a.MP, "f2")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a.MP, "tmp"), []byte("three\n"))
	if err := os.Rename(filepath.Join(a.MP, "tmp"), filepath.Join(a.MP, "l3")); err != nil {
		t.Fatal(err)
	}
	a.flush()
	t.Logf("bucket: %q", f.keys(t, ""))
	for _, m := range []*ferryMount{a, b} {
		for name, want := range map[string]string{"f1": "target1", "f2": "target2"} {
			p := filepath.Join(m.MP, name)
			eventually(t, 20*time.Second, p+" is not the symlink", func() bool {
				got, err := os.Readlink(p)
				return err == nil && got == want
			})
		}
	}
	eventually(t, 20*time.Second, "B never sees l3 become a file", contentIs(filepath.Join(b.MP, "l3"), "three\n"))
	ents, _ := os.ReadDir(b.MP)
	if len(ents) != 3 {
		t.Errorf("B has %d entries, want 3", len(ents))
	}
	for _, k := range f.keys(t, "") {
		if k == "f1" || k == "f2" || k == "l3.rclonelink" {
			t.Errorf("the replaced object %s is still in the bucket", k)
		}
	}
}
