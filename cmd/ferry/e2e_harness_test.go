package main

// End-to-end tests run the built ferry binary against real FUSE mounts, the
// way a user does. This file holds the harness: the binary, mounts as child
// processes, CLI calls with bounded waits and mountinfo; e2e_tree_test.go
// compares trees. The tests themselves live in the other e2e_*_test.go files.
//
// Environment:
//
//	FERRY_BIN=path     test this binary instead of building one
//	FERRY_E2E_RACE=1   build the binary with -race (about twice as slow)
//	FERRY_E2E_SEED=n   replay the random choices of the crash test
//	CI=true            fail, rather than skip, when FUSE is unavailable

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ferryBin is the binary under test: $FERRY_BIN, or one built by TestMain.
var ferryBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "ferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	if b := os.Getenv("FERRY_BIN"); b != "" {
		if ferryBin, err = filepath.Abs(b); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: FERRY_BIN:", err)
			return 2
		}
	} else {
		ferryBin = filepath.Join(tmp, "ferry")
		args := []string{"build", "-o", ferryBin}
		if os.Getenv("FERRY_E2E_RACE") == "1" {
			// The binary gets the race detector too, and the mount's
			// cleanup fails the test on any report. Opt-in: it makes the
			// suite about twice as slow.
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
			return 2
		}
	}
	// The mount registry lives under the user cache dir: keep this run's
	// entries out of the real one. Child processes inherit the variable.
	// (Set after the build, which would otherwise miss the Go build cache.)
	os.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg-cache"))
	return m.Run()
}

// inCI reports whether missing FUSE support must fail the run rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// noFUSE skips the test, or fails it in CI, because FUSE is unavailable.
func noFUSE(t testing.TB, why string) {
	t.Helper()
	if inCI() {
		t.Fatalf("FUSE is not available (CI=true): %s", why)
	}
	t.Skipf("FUSE is not available: %s", why)
}

func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		noFUSE(t, err.Error())
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// cliResult is the outcome of one ferry command.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int // exit code; -1 when killed (timeout) or not started
	err            error
}

func (r cliResult) String() string {
	return fmt.Sprintf("ferry %s: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.err, r.stdout, r.stderr)
}

// ferry runs the binary with args and waits at most timeout.
func ferry(t testing.TB, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err, code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %v: %w", timeout, err)
		r.code = -1
	}
	return r
}

// mustFerry runs a ferry command that must exit 0.
func mustFerry(t testing.TB, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	r := ferry(t, timeout, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// mountDirs are the three directories of one mount.
type mountDirs struct {
	Remote, MP, Cache string
}

func newMountDirs(t testing.TB) mountDirs {
	t.Helper()
	base := t.TempDir()
	d := mountDirs{Remote: filepath.Join(base, "remote"), MP: filepath.Join(base, "mnt"), Cache: filepath.Join(base, "cache")}
	for _, p := range []string{d.Remote, d.MP} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// ferryMount is a running `ferry mount` child process.
type ferryMount struct {
	t testing.TB
	mountDirs
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	done    chan struct{} // closed when the process has exited
	mountID int           // its line in mountinfo
	killed  bool          // by kill9: no clean exit to expect
}

// Stderr is what the mount process logged so far.
func (m *ferryMount) Stderr() string { return m.stderr.String() }

func (m *ferryMount) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end.
func (m *ferryMount) waitExit(d time.Duration) bool {
	select {
	case <-m.done:
		return true
	case <-time.After(d):
		return false
	}
}

// startMount runs `ferry mount` on d with extra flags (after --cache-dir)
// and waits until the kernel shows a new, live mount at d.MP. It registers
// a cleanup that unmounts and kills the process.
func startMount(t testing.TB, d mountDirs, extra ...string) *ferryMount {
	t.Helper()
	return startMountEnv(t, d, nil, extra...)
}

// startMountEnv is startMount with the child's environment given (nil:
// this process's): the tests of one process run MinIOs with different
// credentials at once.
func startMountEnv(t testing.TB, d mountDirs, env []string, extra ...string) *ferryMount {
	t.Helper()
	requireFUSE(t)
	args := append([]string{"mount", d.Remote, d.MP, "--cache-dir", d.Cache}, extra...)
	m := &ferryMount{t: t, mountDirs: d, stderr: &lockedBuffer{}, done: make(chan struct{})}
	m.cmd = exec.Command(ferryBin, args...)
	m.cmd.Env = env
	m.cmd.Stdout, m.cmd.Stderr = m.stderr, m.stderr
	m.cmd.WaitDelay = 5 * time.Second
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start ferry mount: %v", err)
	}
	go func() {
		m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(m.cleanup)

	// Mounted: statfs (which always reaches the server, unlike stat)
	// answers for a FUSE filesystem, so mp is neither the stale mount of a
	// killed ferry (ENOTCONN) nor the bare directory between its cleanup
	// and the new mount; and mountinfo lists it. Mount ids are reused, so
	// they cannot tell a new mount from a stale one.
	// A first mount of a bucket imports its tree before the kernel sees
	// the mount: allow for it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d.MP, &st); err == nil && st.Type == fuseSuperMagic && !m.exited() {
			if ids := mountIDs(t, d.MP); len(ids) > 0 {
				m.mountID = ids[len(ids)-1]
				return m
			}
		}
		if m.exited() {
			out := m.Stderr()
			if lacksFUSE(out) {
				noFUSE(t, out)
			}
			t.Fatalf("ferry %s exited before mounting (%v):\n%s", strings.Join(args, " "), m.cmd.ProcessState, out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry %s: %s not mounted after 60s; stderr:\n%s", strings.Join(args, " "), d.MP, m.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fuseSuperMagic is statfs's f_type of a FUSE filesystem.
const fuseSuperMagic = 0x65735546

// lacksFUSE reports whether a failed mount's output blames the system:
// no FUSE device, or a kernel mount refused for lack of privilege.
func lacksFUSE(stderr string) bool {
	s := strings.ToLower(stderr)
	if strings.Contains(s, "/dev/fuse") || strings.Contains(s, "fusermount") {
		return true
	}
	return strings.Contains(s, "ferry: mount ") &&
		(strings.Contains(s, "operation not permitted") || strings.Contains(s, "no such device") || strings.Contains(s, "permission denied"))
}

// mounted reports whether this mount's line is still in mountinfo.
func (m *ferryMount) mounted() bool {
	return slices.Contains(mountIDs(m.t, m.MP), m.mountID)
}

func (m *ferryMount) cleanup() {
	t := m.t
	if m.mounted() && !m.exited() {
		if r := ferry(t, 20*time.Second, "unmount", m.MP); r.code != 0 {
			t.Logf("cleanup: %s", r)
		}
		m.waitExit(10 * time.Second)
	}
	if m.mounted() {
		if out, err := exec.Command("fusermount3", "-u", "-z", m.MP).CombinedOutput(); err != nil {
			t.Logf("cleanup: fusermount3 -u -z %s: %v %s", m.MP, err, out)
		}
	}
	if !m.exited() {
		m.killed = true
		m.cmd.Process.Kill()
		if !m.waitExit(10 * time.Second) {
			t.Errorf("cleanup: ferry mount %s did not exit after SIGKILL", m.MP)
		}
	}
	// Invariants of every mount: a clean exit, and nothing in its log
	// that says something went wrong inside.
	if !m.killed && m.exited() && !m.cmd.ProcessState.Success() {
		t.Errorf("ferry mount %s: %v, want exit 0 after unmount", m.MP, m.cmd.ProcessState)
	}
	out := m.Stderr()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "level=ERROR"} {
		if strings.Contains(out, bad) {
			t.Errorf("ferry mount %s logged %q", m.MP, bad)
		}
	}
	if t.Failed() {
		t.Logf("ferry mount %s stderr:\n%s", m.MP, m.Stderr())
	}
}

// kill9 kills the mount process with SIGKILL and waits for it to end,
// leaving the mountpoint stale.
func (m *ferryMount) kill9() {
	m.t.Helper()
	m.killed = true
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil && !m.exited() {
		m.t.Fatalf("kill -9 ferry: %v", err)
	}
	if !m.waitExit(10 * time.Second) {
		m.t.Fatalf("ferry did not exit after SIGKILL")
	}
}

// flush runs `ferry flush` on the mount and fails the test unless it exits 0.
func (m *ferryMount) flush() {
	m.t.Helper()
	mustFerry(m.t, 3*time.Minute, "flush", m.MP, "--timeout", "150s")
}

// unmount runs `ferry unmount` and checks that the mount is gone and the
// process exited.
func (m *ferryMount) unmount(flags ...string) cliResult {
	m.t.Helper()
	r := mustFerry(m.t, 30*time.Second, append([]string{"unmount", m.MP}, flags...)...)
	if !m.waitExit(10 * time.Second) {
		m.t.Fatalf("ferry mount did not exit after ferry unmount")
	}
	if m.mounted() {
		m.t.Fatalf("%s is still in mountinfo after ferry unmount", m.MP)
	}
	return r
}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	id     int
	point  string
	fstype string
}

func readMountinfo(t testing.TB) []mountInfo {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mountInfo
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		id, _ := strconv.Atoi(fields[0])
		mi := mountInfo{id: id, point: unescapeOctal(fields[4])}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				mi.fstype = fields[i+1]
			}
		}
		out = append(out, mi)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unescapeOctal undoes mountinfo's \ooo escapes.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountIDs lists the mountinfo ids of the mounts at path.
func mountIDs(t testing.TB, path string) []int {
	var ids []int
	for _, mi := range readMountinfo(t) {
		if mi.point == path {
			ids = append(ids, mi.id)
		}
	}
	return ids
}

func isMountpoint(t testing.TB, path string) bool { return len(mountIDs(t, path)) > 0 }

// errnoOf extracts the errno from an error of the os or syscall packages.
func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return 0
}

// wantErrno fails the test unless err carries errno want.
func wantErrno(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	if got := errnoOf(err); got != want {
		t.Errorf("%s: got error %v, want %v (%s)", what, err, want, want.Error())
	}
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}
