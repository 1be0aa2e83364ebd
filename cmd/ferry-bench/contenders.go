package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	flushTimeout = 10 * time.Minute
	diffTimeout  = 5 * time.Minute
)

// An instance is one contender, freshly set up for one workload: its own
// directories and, for ferry and rclone, its own mount process.
type instance struct {
	name   string
	root   string     // everything this instance owns; removed by close
	dir    string     // where workloads write: the plain directory or the mountpoint
	remote string     // the folder behind the mount; "" for plain
	proc   *mountProc // nil for plain and rclone copy
	ferry  string     // the ferry binary, for flush and unmount

	// The S3 contenders only.
	bucket    string       // fresh for this instance, removed by close
	minio     *minioServer // that holds bucket
	rcAddr    string       // rclone mount's remote control, to see its upload queue
	rcloneEnv []string     // rclone copy's environment
}

// open sets up contender name under root, which must not exist yet.
func (b *bench) open(ctx context.Context, name, root string) (*instance, error) {
	in := &instance{name: name, root: root, ferry: b.ferryBin}
	if name == plain {
		in.dir = filepath.Join(root, "dir")
		return in, os.MkdirAll(in.dir, 0o755)
	}

	in.dir = filepath.Join(root, "mnt")
	in.remote = filepath.Join(root, "remote")
	cache := filepath.Join(root, "cache")
	for _, d := range []string{in.dir, in.remote, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var argv []string
	env := os.Environ()
	switch name {
	case ferry:
		argv = []string{b.ferryBin, "mount", in.remote, in.dir, "--cache-dir", cache}
	case rclone:
		// A local path is a remote rclone understands without a config.
		argv = []string{"rclone", "mount", in.remote, in.dir, "--vfs-cache-mode", "full", "--cache-dir", cache}
		env = rcloneEnv()
	default:
		return nil, fmt.Errorf("unknown contender %q", name)
	}
	proc, err := startMount(ctx, b.lg, name, argv, env, in.dir, filepath.Join(root, name+".log"))
	if err != nil {
		return nil, err
	}
	in.proc = proc
	return in, nil
}

// rcloneEnv is this environment less AWS_CA_BUNDLE: Debian's rclone
// refuses to start when it is set, even for a local remote.
func rcloneEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	return env
}

// close unmounts, stops the daemon, and deletes the instance's
// directories (unless something is still mounted there).
func (in *instance) close() error {
	if in.proc != nil {
		var unmount []string
		if in.name == ferry {
			unmount = []string{in.ferry, "unmount", in.dir}
		}
		in.proc.stop(unmount)
	}
	var err error
	if in.bucket != "" {
		err = in.minio.removeBucket(in.bucket)
	}
	return errors.Join(err, removeAllSafely(in.root))
}

// flush waits until everything written under dir has reached the remote.
func (in *instance) flush(ctx context.Context, want treeStats) error {
	switch in.name {
	case ferry:
		ctx, cancel := context.WithTimeout(ctx, flushTimeout+time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, in.ferry, "flush", in.dir, "--timeout", flushTimeout.String())
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("ferry flush: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	case rclone:
		// rclone has no flush: watch the remote fill up.
		return waitForTree(ctx, in.remote, want, flushTimeout)
	default:
		return nil
	}
}

// treeStats counts the regular files of a tree and their bytes.
type treeStats struct {
	files int
	bytes int64
}

func (s treeStats) String() string { return fmt.Sprintf("%d files, %d bytes", s.files, s.bytes) }

// countTree walks dir. Files rclone is still writing (*.partial) do not
// count: they are not in the remote yet.
func countTree(dir string) (treeStats, error) {
	var s treeStats
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // renamed or removed while we walked
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".partial") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		s.files++
		s.bytes += info.Size()
		return nil
	})
	return s, err
}

// waitForTree polls dir until it holds want, or timeout passes.
func waitForTree(ctx context.Context, dir string, want treeStats, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var got treeStats
	for {
		var err error
		if got, err = countTree(dir); err != nil {
			return err
		}
		if got == want {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("remote incomplete after %s: %s of %s", timeout, got, want)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// diffTrees runs diff -rq between the mount and its remote and returns
// the differences, one per line; none means they match.
func diffTrees(ctx context.Context, a, b string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, diffTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "diff", "-rq", "-x", ".ferry", a, b) // .ferry: the change log and recycle bin
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1: // files differ
		return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("diff -r: timed out after %s", diffTimeout)
	case errors.As(err, &exit):
		return nil, fmt.Errorf("diff -r: %w: %s", err, strings.TrimSpace(string(exit.Stderr)))
	default:
		return nil, fmt.Errorf("diff -r: %w", err)
	}
}
