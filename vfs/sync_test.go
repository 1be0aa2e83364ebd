package vfs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestConflictName(t *testing.T) {
	const sfx = " (conflict 2026-11-21 101500 laptop)"
	for _, c := range []struct {
		name string
		dir  bool
		want string
	}{
		{"report.txt", false, "report" + sfx + ".txt"},
		{"archive.tar.gz", false, "archive.tar" + sfx + ".gz"},
		{"Makefile", false, "Makefile" + sfx},
		{".bashrc", false, ".bashrc" + sfx},
		{"photos.2024", true, "photos.2024" + sfx},
	} {
		if got := ConflictName(c.name, sfx, c.dir); got != c.want {
			t.Errorf("ConflictName(%q, dir=%v) = %q, want %q", c.name, c.dir, got, c.want)
		}
	}
	long := strings.Repeat("é", 120) + ".txt" // 244 bytes
	got := ConflictName(long, sfx, false)
	if len(got) > NameMax || !utf8.ValidString(got) || !strings.HasSuffix(got, sfx+".txt") {
		t.Errorf("ConflictName of a long name = %q (%d bytes), want at most %d valid bytes ending in the suffix", got, len(got), NameMax)
	}
}
