package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where a run happened, for the report.
type machine struct {
	kernel    string
	cpu       string
	cpus      int
	cpuIdle   string
	memory    string
	goVersion string
	date      string
	rclone    string
	ferryRev  string
	scratchFS string
}

// describeMachine gathers what it can; a fact it cannot read says so
// rather than failing the run. ferryRev is the commit the run measures,
// taken when it started.
func describeMachine(ctx context.Context, scratch, ferryRev string) machine {
	m := machine{
		kernel:    commandLine(ctx, nil, "uname", "-sr"),
		cpu:       cpuModel(),
		cpus:      runtime.NumCPU(),
		cpuIdle:   cpuIdle(),
		memory:    memTotal(),
		goVersion: runtime.Version(),
		date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		rclone:    commandLine(ctx, rcloneEnv(), "rclone", "version"),
		ferryRev:  ferryRev,
	}
	m.scratchFS = "unknown"
	if entries, err := readMountinfo(); err == nil {
		if e, ok := filesystemOf(entries, scratch); ok {
			m.scratchFS = fmt.Sprintf("%s%s (%s on %s)", e.fstype, ext4Journal(e), e.source, e.point)
		}
	}
	return m
}

// commandLine is the first line a command prints, or why there is none.
func commandLine(ctx context.Context, env []string, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("unknown (%s: %v)", argv[0], err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// cpuIdle names the cpuidle driver and, for a VM guest's haltpoll, how
// long an idle CPU polls for work before it halts. At 0 every wakeup of an
// idle CPU is a VM exit, and a FUSE request takes two: to the file
// system's thread and back to the caller, each on a CPU that went idle.
func cpuIdle() string {
	drv, err := os.ReadFile("/sys/devices/system/cpu/cpuidle/current_driver")
	if err != nil {
		return "unknown"
	}
	d := strings.TrimSpace(string(drv))
	if d != "haltpoll" {
		return d
	}
	ns, err := os.ReadFile("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
	if err != nil {
		return d
	}
	return fmt.Sprintf("haltpoll, guest_halt_poll_ns=%s", strings.TrimSpace(string(ns)))
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			break
		}
		return fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	return "unknown"
}

// gitRevision names the ferry commit measured, marked when the tree has
// uncommitted changes.
func gitRevision(ctx context.Context) string {
	rev := commandLine(ctx, nil, "git", "rev-parse", "--short", "HEAD")
	if strings.HasPrefix(rev, "unknown") {
		return "unknown (no commit yet)"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output(); err == nil && len(out) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

// ext4Journal notes an ext4 filesystem without a journal, which allocates
// inodes differently (see spreadSubdirs).
func ext4Journal(e mountEntry) string {
	if e.fstype != "ext4" {
		return ""
	}
	task, err := os.ReadFile(filepath.Join("/sys/fs/ext4", filepath.Base(e.source), "journal_task"))
	if err == nil && strings.TrimSpace(string(task)) == "<none>" {
		return ", no journal"
	}
	return ""
}
