package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	fileCount = 5000 // files in the create/stat/remove workload
	fileDirs  = 10   // spread over this many directories
	blockSize = 1 << 20

	untarTimeout = 20 * time.Minute
	phaseTimeout = 10 * time.Minute // one phase of the files or seq workload
)

// A workload runs against one fresh instance and fills its cells.
type workload struct {
	name     string
	measures []measureID // the rows it fills, all failed if the instance does not open
	run      func(b *bench, ctx context.Context, in *instance) map[measureID]cell
	tarball  bool // it extracts the Go source tarball
	s3       bool // it runs the S3 contenders against MinIO, not the folder ones
	// ownMounts: it gets only a directory and sets up its mounts and
	// buckets itself, several of them.
	ownMounts bool
	// columns, when set, are the only contenders of its table.
	columns []string
}

// contenders picks from those selected the ones w runs for.
func (w workload) contenders(selected []string) []string {
	if w.columns == nil {
		return selected
	}
	var out []string
	for _, c := range selected {
		if slices.Contains(w.columns, c) {
			out = append(out, c)
		}
	}
	return out
}

var workloads = []workload{
	{name: "untar", measures: []measureID{mUntar, mUntarFlush, mPeakRSS}, run: (*bench).untar, tarball: true},
	{name: "files", measures: []measureID{mCreate, mStat, mRemove}, run: (*bench).files},
	{name: "seq", measures: []measureID{mSeqWrite, mSeqRead}, run: (*bench).seq},
	// The S3 workloads come last: MinIO starts just before them, so that
	// it idles beside none of the others.
	{name: "s3-untar", measures: []measureID{mS3Untar, mS3UntarFlush}, run: (*bench).s3Untar, tarball: true, s3: true},
	{name: "s3-seq", measures: []measureID{mS3Upload}, run: (*bench).s3Seq, s3: true},
	{name: "s3-sync", measures: []measureID{mSyncPickupMedian, mSyncPickupP95, mSyncPollRequests, mSyncPollCPU,
		mSyncFirstLs, mSyncFirstTree, mSyncFirstRSS, mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists},
		run: (*bench).s3Sync, s3: true, ownMounts: true, columns: syncContenderNames},
}

// workloadGroups are names -workloads takes for several workloads.
var workloadGroups = map[string][]string{"s3": {"s3-untar", "s3-seq", "s3-sync"}}

// bounded runs fn with a deadline that holds even when fn is stuck in a
// system call on a hung FUSE mount, which no context can interrupt. After
// a timeout fn may still be running: the caller must tear the mount down,
// which fails the stuck call and lets fn return.
func bounded(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s", d)
		}
		return ctx.Err()
	}
}

// timed is bounded, and also returns how long fn took.
func timed(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) (time.Duration, error) {
	start := time.Now()
	err := bounded(ctx, d, fn)
	return time.Since(start), err
}

// untar extracts the Go source tarball into the instance, then waits until
// the instance reports everything reached its remote.
func (b *bench) untar(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	start := time.Now()
	tarTime, err := timed(ctx, untarTimeout, func(ctx context.Context) error {
		return extract(ctx, b.tarball, in.dir)
	})
	if err != nil {
		out[mUntar], out[mUntarFlush] = failed(err), failedf("untar failed")
		b.rss(in, out)
		return out
	}
	out[mUntar] = num(tarTime.Seconds())

	flushTime, err := timed(ctx, flushTimeout+2*time.Minute, func(ctx context.Context) error {
		return in.flush(ctx, b.tarStats)
	})
	if err != nil {
		out[mUntarFlush] = failed(err)
		b.rss(in, out)
		return out
	}
	out[mUntarFlush] = num((tarTime + flushTime).Seconds())
	b.lg.Info("untar done", "contender", in.name, "tar", tarTime.Round(time.Millisecond),
		"until flushed", time.Since(start).Round(time.Millisecond))
	b.rss(in, out) // before diff, which reads every file through the mount

	if in.remote != "" {
		diffs, err := diffTrees(ctx, in.dir, in.remote)
		switch {
		case err != nil:
			out[mUntarDiff] = failed(err)
		case len(diffs) > 0:
			out[mUntarDiff] = note(fmt.Sprintf("%d differences, first: %s", len(diffs), diffs[0]))
			b.lg.Warn("mount and remote differ after flush", "contender", in.name,
				"differences", len(diffs), "first", diffs[:min(len(diffs), 5)])
		}
	}
	return out
}

// extract untars the tarball into dir. As root, tar would chown every
// file to the archive's owner; --no-same-owner makes it do what it does
// for everyone else.
func extract(ctx context.Context, tarball, dir string) error {
	cmd := exec.CommandContext(ctx, "tar", "--no-same-owner", "-C", dir, "-xf", tarball)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rss fills the peak-RSS cell: the mount daemon's, n/a for plain.
func (b *bench) rss(in *instance, out map[measureID]cell) {
	if in.proc == nil {
		out[mPeakRSS] = note("n/a")
		return
	}
	mb, err := in.proc.peakRSS()
	if err != nil {
		out[mPeakRSS] = failed(err)
		return
	}
	out[mPeakRSS] = num(mb)
}

// files creates fileCount empty files over fileDirs directories, stats
// them all, then removes them all; each phase is timed on its own.
func (b *bench) files(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	root := filepath.Join(in.dir, "files")
	paths := make([]string, fileCount)
	for i := range paths {
		paths[i] = filepath.Join(root, fmt.Sprintf("d%02d", i%fileDirs), fmt.Sprintf("f%05d", i))
	}
	for i := range fileDirs {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			for _, id := range []measureID{mCreate, mStat, mRemove} {
				out[id] = failed(err)
			}
			return out
		}
	}

	phases := []struct {
		id measureID
		op func(string) error
	}{
		{mCreate, func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			return f.Close()
		}},
		{mStat, func(p string) error { _, err := os.Lstat(p); return err }},
		{mRemove, os.Remove},
	}
	for i, ph := range phases {
		d, err := timed(ctx, phaseTimeout, func(ctx context.Context) error {
			for _, p := range paths {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := ph.op(p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			out[ph.id] = failed(err)
			for _, later := range phases[i+1:] {
				out[later.id] = failedf("earlier phase failed")
			}
			return out
		}
		out[ph.id] = num(float64(d.Microseconds()) / 1000)
	}
	return out
}

// seq writes b.seqSize bytes in 1 MiB blocks, fsyncs and closes; drops
// the page cache if it may; then reads the file back.
func (b *bench) seq(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	path := filepath.Join(in.dir, "seq.bin")
	d, err := timed(ctx, phaseTimeout, func(ctx context.Context) error {
		return writeBlocks(ctx, path, b.seqSize, true)
	})
	if err != nil {
		out[mSeqWrite], out[mSeqRead] = failed(err), failedf("write failed")
		return out
	}
	out[mSeqWrite] = num(float64(b.seqSize) / 1e6 / d.Seconds())

	if err := dropCaches(); err != nil {
		b.coldReadFailed = true
	}

	buf := make([]byte, blockSize)
	d, err = timed(ctx, phaseTimeout, func(ctx context.Context) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var n int64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			k, err := f.Read(buf)
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if n != b.seqSize {
			return fmt.Errorf("read %d bytes back, wrote %d", n, b.seqSize)
		}
		return nil
	})
	if err != nil {
		out[mSeqRead] = failed(err)
		return out
	}
	out[mSeqRead] = num(float64(b.seqSize) / 1e6 / d.Seconds())
	return out
}

// writeBlocks writes size bytes of incompressible data to path in 1 MiB
// blocks, fsyncs if asked, and closes. Every block differs, so nothing
// below can deduplicate them; every call writes the same bytes.
func writeBlocks(ctx context.Context, path string, size int64, fsync bool) error {
	buf := make([]byte, blockSize)
	rng := rand.NewChaCha8([32]byte{})
	_, _ = rng.Read(buf) // ChaCha8's Read never fails
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; off += blockSize {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		binary.LittleEndian.PutUint64(buf, uint64(off))
		if _, err := f.Write(buf[:min(blockSize, size-off)]); err != nil {
			f.Close()
			return err
		}
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync: %w", err)
		}
	}
	return f.Close()
}
