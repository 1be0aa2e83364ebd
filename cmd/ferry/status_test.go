package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPrintSyncStatus: the text form of ferry status says how many skipped
// keys it leaves out, and why files not cached here cannot be read.
func TestPrintSyncStatus(t *testing.T) {
	var st statusReply
	for i := range 25 {
		st.SkippedKeys = append(st.SkippedKeys, fmt.Sprintf("bad/../%d", i))
	}
	st.ReadError, st.ReadErrorAt = "get \"a.txt\": connection refused", time.Unix(1e9, 0)
	var b strings.Builder
	printSyncStatus(&b, st)
	out := b.String()
	for _, want := range []string{"skipped keys:\t25 ", "... and 5 more", "read error:\t", "connection refused", "(EIO)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}
