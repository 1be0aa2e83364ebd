package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A mountEntry is one line of /proc/self/mountinfo, reduced to what the
// bench needs.
type mountEntry struct {
	point  string
	fstype string
	source string
}

// parseMountinfo reads the format of proc(5): the mount point is field 5,
// and the filesystem type and source follow the lone "-" separator.
func parseMountinfo(data string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for i := 5; i < len(f)-1; i++ {
			if f[i] != "-" {
				continue
			}
			e := mountEntry{point: unescapeMountinfo(f[4]), fstype: f[i+1]}
			if i+2 < len(f) {
				e.source = unescapeMountinfo(f[i+2])
			}
			out = append(out, e)
			break
		}
	}
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isFUSE(fstype string) bool { return strings.HasPrefix(fstype, "fuse") }

func readMountinfo() ([]mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountinfo(string(data)), nil
}

// fuseMountedAt reports whether the topmost mount at point is a FUSE mount.
func fuseMountedAt(entries []mountEntry, point string) bool {
	found := false
	for _, e := range entries {
		if e.point == point {
			found = isFUSE(e.fstype) // later lines are mounted on top
		}
	}
	return found
}

// fuseMounted reads mountinfo afresh; an unreadable mountinfo counts as
// mounted, so that nothing is deleted through a mount it could not see.
func fuseMounted(point string) bool {
	entries, err := readMountinfo()
	return err != nil || fuseMountedAt(entries, point)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(entries []mountEntry, dir string) []string {
	var out []string
	for _, e := range entries {
		if e.point == dir || strings.HasPrefix(e.point, dir+"/") {
			out = append(out, e.point)
		}
	}
	return out
}

// filesystemOf finds the mount that holds path: the longest mount point
// that is path or one of its parents.
func filesystemOf(entries []mountEntry, path string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, e := range entries {
		if e.point == "/" || e.point == path || strings.HasPrefix(path, e.point+"/") {
			if !found || len(e.point) >= len(best.point) {
				best, found = e, true
			}
		}
	}
	return best, found
}

// removeAllSafely deletes dir unless something is still mounted below it:
// RemoveAll would otherwise walk into the mount and delete through it, or
// hang on a dead one.
func removeAllSafely(dir string) error {
	entries, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	if m := mountsUnder(entries, dir); len(m) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", dir, strings.Join(m, ", "))
	}
	return os.RemoveAll(dir)
}

// A mountProc is a FUSE daemon run as a child process, mounted at point.
type mountProc struct {
	name  string
	point string
	cmd   *exec.Cmd
	log   string        // the daemon's stdout and stderr
	done  chan struct{} // closed once the process has exited
	err   error         // the exit status; read only after done is closed
	lg    *slog.Logger
}

const (
	mountTimeout   = 30 * time.Second
	unmountTimeout = 30 * time.Second
)

// startMount runs argv and waits until point is a FUSE mount, the process
// exits, or mountTimeout passes. On failure nothing is left running.
func startMount(ctx context.Context, lg *slog.Logger, name string, argv, env []string, point, logPath string) (*mountProc, error) {
	m, err := spawnMount(lg, name, argv, env, point, logPath)
	if err != nil {
		return nil, err
	}
	if err := m.waitMounted(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// spawnMount starts the daemon of a mount at point without waiting for it
// to mount; its caller must stop it.
func spawnMount(lg *slog.Logger, name string, argv, env []string, point, logPath string) (*mountProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	m := &mountProc{name: name, point: point, cmd: cmd, log: logPath, done: make(chan struct{}), lg: lg}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	return m, nil
}

// waitMounted waits until the daemon's point is a FUSE mount, the process
// exits, or mountTimeout passes. On failure it stops the daemon.
func (m *mountProc) waitMounted(ctx context.Context) error {
	name, point := m.name, m.point
	deadline := time.NewTimer(mountTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, err := readMountinfo()
		if err == nil && fuseMountedAt(entries, point) {
			return nil
		}
		select {
		case <-m.done:
			return fmt.Errorf("%s exited before mounting (%v): %s", name, m.err, m.logTail())
		case <-deadline.C:
			m.signal(syscall.SIGTERM) // it may be about to mount; stop unmounts if so
			m.stop(nil)
			return fmt.Errorf("%s not mounted after %s: %s", name, mountTimeout, m.logTail())
		case <-ctx.Done():
			m.signal(syscall.SIGTERM)
			m.stop(nil)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// exited reports whether the daemon has ended.
func (m *mountProc) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// cpuTime is the CPU the daemon has used so far, user and system, from
// /proc/PID/stat.
func (m *mountProc) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(m.cmd.Process.Pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parseCPUTime(string(data))
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture the bench runs on.
const clockTick = 10 * time.Millisecond

// parseCPUTime reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name, field 2, is in parentheses and
// may hold spaces, so fields are counted from after its last ')'.
func parseCPUTime(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// logTail is the last line of the daemon's log, for an error cell.
func (m *mountProc) logTail() string {
	data, _ := os.ReadFile(m.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if tail := strings.TrimSpace(lines[len(lines)-1]); tail != "" {
		return tail
	}
	return "no output"
}

// peakRSS is the process's high-water resident set (VmHWM), in MB.
func (m *mountProc) peakRSS() (float64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(m.cmd.Process.Pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
		}
		return kb * 1024 / 1e6, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// stop unmounts and ends the daemon, escalating step by step: the
// contender's own unmount command (if any), fusermount3 -u, SIGTERM,
// SIGKILL with a lazy unmount. It always returns, within about two
// minutes at worst, and logs what it could not clean up.
func (m *mountProc) stop(unmount []string) {
	steps := [][]string{{"fusermount3", "-u", m.point}}
	if unmount != nil {
		steps = append([][]string{unmount}, steps...)
	}
	for _, argv := range steps {
		if !fuseMounted(m.point) {
			break
		}
		if out, err := runBounded(unmountTimeout, argv...); err != nil {
			m.lg.Warn("unmount failed", "mount", m.name, "cmd", strings.Join(argv, " "), "err", err, "output", strings.TrimSpace(out))
		}
	}
	if fuseMounted(m.point) {
		m.signal(syscall.SIGTERM)
		m.waitExit(10 * time.Second)
	}
	if fuseMounted(m.point) {
		m.signal(syscall.SIGKILL)
		m.waitExit(5 * time.Second)
		// A killed daemon leaves a dead mount behind: detach it.
		if out, err := runBounded(unmountTimeout, "fusermount3", "-uz", m.point); err != nil {
			m.lg.Warn("lazy unmount failed", "mount", m.name, "err", err, "output", strings.TrimSpace(out))
		}
	}
	// Unmounted daemons exit by themselves; give them a moment first.
	if !m.waitExit(10 * time.Second) {
		m.signal(syscall.SIGTERM)
		if !m.waitExit(5 * time.Second) {
			m.signal(syscall.SIGKILL)
			if !m.waitExit(5 * time.Second) {
				m.lg.Error("mount process did not exit", "mount", m.name, "pid", m.cmd.Process.Pid)
			}
		}
	}
	if fuseMounted(m.point) {
		m.lg.Error("still mounted; unmount by hand with fusermount3 -u", "mount", m.name, "point", m.point)
	}
}

func (m *mountProc) signal(sig os.Signal) {
	select {
	case <-m.done:
	default:
		_ = m.cmd.Process.Signal(sig) // it may exit between the check and the signal
	}
}

func (m *mountProc) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.done:
		return true
	case <-t.C:
		return false
	}
}

// runBounded runs a helper command with a timeout and returns its
// combined output.
func runBounded(d time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %s", argv[0], d)
	}
	return string(out), err
}
