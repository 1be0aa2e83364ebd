package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// randomBytes returns n bytes from a seeded generator.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeSampleTree creates a small tree of nested directories, files of
// various sizes (empty to ~3 MiB) and a symlink at root.
func makeSampleTree(t testing.TB, root string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	files := map[string]int{
		"README.md":                  1200,
		"empty":                      0,
		"docs/guide.txt":             17,
		"docs/big.bin":               3<<20 + 4321,
		"docs/notes/one.txt":         4096,
		"docs/notes/two.txt":         4097,
		"src/main.go":                800,
		"src/lib/util.go":            65536,
		"src/lib/deep/deeper/x.dat":  1,
		"old/obsolete.txt":           300,
		"old/more/stale.bin":         70000,
		"with space/and-dash_ü.txt":  99,
		"src/lib/deep/deeper/y.dat":  128 << 10,
		"docs/notes/empty-too":       0,
		"src/lib/deep/deeper/z.data": 1 << 20,
	}
	for p, n := range files {
		full := filepath.Join(root, p)
		mkdirAll(t, filepath.Dir(full))
		writeFile(t, full, randomBytes(r, n))
	}
	mkdirAll(t, filepath.Join(root, "emptydir"))
	if err := os.Symlink("docs/guide.txt", filepath.Join(root, "guide-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../nowhere", filepath.Join(root, "src/dangling")); err != nil {
		t.Fatal(err)
	}
}

// run runs a command that must succeed within a minute.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	runFor(t, time.Minute, name, args...)
}

// runFor runs a command that must succeed within timeout.
func runFor(t testing.TB, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\n%s", name, strings.Join(args, " "), timeout, out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestE2EUserStory walks through what a user does: copy a tree in, edit
// like an editor, append, move and delete, check status, flush, compare
// the remote, read the journal, unmount.
func TestE2EUserStory(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	// A write-back long enough that status sees pending ops and flush has work.
	m := startMount(t, d, "--write-back", "1m")
	src := filepath.Join(t.TempDir(), "project")
	makeSampleTree(t, src, 1)

	run(t, "cp", "-r", src, m.MP)
	proj := filepath.Join(m.MP, "project")
	compareTrees(t, src, proj, compareOpts{})

	// vim-style edit: write a temp file, fsync it, rename it over the original.
	tmp := filepath.Join(proj, "src", ".main.go.swp")
	edited := []byte("package main\n\nfunc main() { println(\"edited\") }\n")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(edited); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(proj, "src", "main.go")); err != nil {
		t.Fatal(err)
	}

	// Append to a file.
	f, err = os.OpenFile(filepath.Join(proj, "README.md"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\nappended line\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// mv a directory, rm -r another.
	run(t, "mv", filepath.Join(proj, "docs"), filepath.Join(proj, "documentation"))
	run(t, "rm", "-r", filepath.Join(proj, "old"))

	// The same edits on the source tree give the expected result.
	writeFile(t, filepath.Join(src, "src", "main.go"), edited)
	readme, _ := os.ReadFile(filepath.Join(src, "README.md"))
	writeFile(t, filepath.Join(src, "README.md"), append(readme, "\nappended line\n"...))
	if err := os.Rename(filepath.Join(src, "docs"), filepath.Join(src, "documentation")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "old")); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, proj, compareOpts{})

	// status: pending ops, in text and JSON.
	st := mustFerry(t, 30*time.Second, "status", m.MP)
	if n := pendingFromStatus(st.stdout); n <= 0 {
		t.Errorf("ferry status shows %d pending ops, want some:\n%s", n, st.stdout)
	}
	stj := mustFerry(t, 30*time.Second, "status", m.MP, "--json")
	var status struct {
		Mountpoint string `json:"mountpoint"`
		PendingOps int    `json:"pending_ops"`
	}
	if err := json.Unmarshal([]byte(stj.stdout), &status); err != nil {
		t.Fatalf("ferry status --json: %v\n%s", err, stj.stdout)
	}
	if status.PendingOps == 0 || status.Mountpoint != m.MP {
		t.Errorf("ferry status --json = %+v, want pending ops at %s", status, m.MP)
	}

	m.flush()
	compareTrees(t, m.MP, d.Remote, compareOpts{perm: true, fileMtimes: true})
	compareTrees(t, src, filepath.Join(d.Remote, "project"), compareOpts{})

	// The journal: one JSON object per line with the documented fields,
	// holding the ops of the story.
	jr := mustFerry(t, 30*time.Second, "journal", m.MP, "--json")
	kinds := map[string]int{}
	renamed := false
	s := bufio.NewScanner(strings.NewReader(jr.stdout))
	s.Buffer(nil, 1<<20)
	lines := 0
	for s.Scan() {
		lines++
		var op map[string]any
		if err := json.Unmarshal(s.Bytes(), &op); err != nil {
			t.Fatalf("journal line %d is not JSON: %v\n%s", lines, err, s.Text())
		}
		for _, field := range []string{"seq", "time", "op", "path", "state"} {
			if _, ok := op[field]; !ok {
				t.Errorf("journal line %d lacks %q: %s", lines, field, s.Text())
			}
		}
		kind, _ := op["op"].(string)
		kinds[kind]++
		if state, _ := op["state"].(string); state != "done" {
			t.Errorf("after flush, journal op is %q: %s", state, s.Text())
		}
		if kind == "rename" && op["path"] == "project/docs" && op["path2"] == "project/documentation" {
			renamed = true
		}
	}
	for _, k := range []string{"mkdir", "create", "write", "symlink", "rename", "unlink", "rmdir"} {
		if kinds[k] == 0 {
			t.Errorf("journal has no %q op; kinds: %v", k, kinds)
		}
	}
	if !renamed {
		t.Errorf("journal has no rename project/docs -> project/documentation")
	}

	failed := mustFerry(t, 30*time.Second, "journal", m.MP, "--state", "failed", "--json")
	if strings.TrimSpace(failed.stdout) != "" {
		t.Errorf("ferry journal --state failed lists ops:\n%s", failed.stdout)
	}

	m.unmount()
	if isMountpoint(t, m.MP) {
		t.Errorf("%s still mounted", m.MP)
	}
}

// pendingFromStatus reads the count of the "pending ops:" line of ferry
// status, or -1.
func pendingFromStatus(out string) int {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "pending ops:"); ok {
			var n int
			if _, err := fmt.Sscan(rest, &n); err == nil {
				return n
			}
		}
	}
	return -1
}
