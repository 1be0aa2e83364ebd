package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The contenders of the S3 table, in the order of its columns. ferry is
// the same binary as in the folder table, mounting a bucket instead.
const (
	rcloneCopy  = "rclone-copy"  // rclone copy from a plain directory: the bulk-upload limit
	rcloneMount = "rclone-mount" // rclone mount --vfs-cache-mode full of a bucket
)

var s3ContenderNames = []string{ferry, rcloneCopy, rcloneMount}

const (
	copyTimeout = 20 * time.Minute // one rclone copy
	rcTimeout   = 5 * time.Second  // one rclone rc request

	rcMaxFailures = 6 // rclone rc requests failed in a row before the wait gives up
)

// s3Contenders maps -only onto the S3 table's columns: ferry to ferry's
// S3 mount, rclone to both rclone copy and rclone mount. plain has no S3
// counterpart.
func s3Contenders(only []string) []string {
	var out []string
	for _, c := range only {
		switch c {
		case ferry:
			out = append(out, ferry)
		case rclone:
			out = append(out, rcloneCopy, rcloneMount)
		}
	}
	return out
}

// openS3 sets up S3 contender name under root, which must not exist yet,
// with a fresh bucket of the run's MinIO.
func (b *bench) openS3(ctx context.Context, name, root, bucket string) (*instance, error) {
	if b.minio == nil {
		return nil, errors.New("no MinIO")
	}
	in := &instance{name: name, root: root, ferry: b.ferryBin}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := b.minio.createBucket(ctx, bucket); err != nil {
		return nil, err
	}
	in.bucket, in.minio = bucket, b.minio
	transfers := strconv.Itoa(b.transfers)
	if name == rcloneCopy {
		// What to copy is the workload's business: it fills dir untimed.
		in.dir = filepath.Join(root, "src")
		in.rcloneEnv = b.minio.rcloneEnvS3(b.rcloneConf)
		if err := os.MkdirAll(in.dir, 0o755); err != nil {
			return nil, in.closeAfter(err)
		}
		return in, nil
	}

	in.dir = filepath.Join(root, "mnt")
	cache := filepath.Join(root, "cache")
	for _, d := range []string{in.dir, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, in.closeAfter(err)
		}
	}
	var argv, env []string
	switch name {
	case ferry:
		argv = []string{b.ferryBin, "mount", "s3://" + bucket, in.dir, "--s3-endpoint", b.minio.endpoint,
			"--transfers", transfers, "--cache-dir", cache}
		env = b.minio.ferryEnvS3()
	case rcloneMount:
		// rclone has no flush; its remote control tells when its upload
		// queue is empty (see waitRcloneUploads).
		addr, err := freeAddr()
		if err != nil {
			return nil, in.closeAfter(err)
		}
		in.rcAddr = addr
		argv = []string{"rclone", "mount", "m:" + bucket, in.dir, "--vfs-cache-mode", "full", "--cache-dir", cache,
			"--transfers", transfers, "--rc", "--rc-addr", addr, "--rc-no-auth"}
		env = b.minio.rcloneEnvS3(b.rcloneConf)
	default:
		return nil, in.closeAfter(fmt.Errorf("unknown S3 contender %q", name))
	}
	proc, err := startMount(ctx, b.lg, name, argv, env, in.dir, filepath.Join(root, name+".log"))
	if err != nil {
		return nil, in.closeAfter(err)
	}
	in.proc = proc
	return in, nil
}

// closeAfter cleans up a half-opened instance and returns err.
func (in *instance) closeAfter(err error) error {
	if cerr := in.close(); cerr != nil {
		return fmt.Errorf("%w (and cleanup: %v)", err, cerr)
	}
	return err
}

// inBucket waits until everything written to the mount is in the bucket
// and returns when that was known. ferry: when `ferry flush` returns.
// rclone mount: when its upload queue was seen empty, once a listing of
// the bucket confirms want.
func (in *instance) inBucket(ctx context.Context, want treeStats) (time.Time, error) {
	switch in.name {
	case ferry:
		err := in.flush(ctx, want)
		return time.Now(), err
	case rcloneMount:
		return in.waitRcloneUploads(ctx, want)
	default:
		return time.Time{}, fmt.Errorf("%s has no mount to flush", in.name)
	}
}

// waitRcloneUploads polls rclone's vfs/stats every 250 ms until nothing
// is queued or uploading, then lists the bucket: listing 10,000 objects
// takes MinIO most of a second of CPU, too much to repeat four times a
// second beside the upload it waits for.
func (in *instance) waitRcloneUploads(ctx context.Context, want treeStats) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var got treeStats
	rcFailures := 0
	for {
		pending, err := rcloneUploads(ctx, in.rcAddr)
		if err != nil && ctx.Err() == nil {
			// A busy rclone may answer late now and then; a dead one never.
			if rcFailures++; rcFailures == rcMaxFailures {
				return time.Time{}, err
			}
		} else {
			rcFailures = 0
		}
		if err == nil && pending == 0 {
			seen := time.Now()
			if got, err = in.minio.bucketStats(ctx, in.bucket); err != nil && ctx.Err() == nil {
				return time.Time{}, err
			}
			if err == nil && got == want {
				return seen, nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return time.Time{}, fmt.Errorf("bucket incomplete after %s: %s of %s", flushTimeout, got, want)
			}
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// rcStats is the part of rclone's vfs/stats answer the bench reads.
type rcStats struct {
	DiskCache *struct {
		UploadsInProgress int `json:"uploadsInProgress"`
		UploadsQueued     int `json:"uploadsQueued"`
	} `json:"diskCache"`
}

// parseRcStats reads a vfs/stats answer: how many files are queued for
// upload or uploading.
func parseRcStats(data []byte) (int, error) {
	var st rcStats
	if err := json.Unmarshal(data, &st); err != nil {
		return 0, fmt.Errorf("rclone vfs/stats: %w", err)
	}
	if st.DiskCache == nil {
		return 0, errors.New("rclone vfs/stats: no diskCache (is --vfs-cache-mode off?)")
	}
	return st.DiskCache.UploadsInProgress + st.DiskCache.UploadsQueued, nil
}

// rcloneUploads asks the rclone mount at addr how many uploads it has
// pending.
func rcloneUploads(ctx context.Context, addr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, rcTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/vfs/stats", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("rclone rc: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("rclone rc: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("rclone rc: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return parseRcStats(body)
}

// rcloneCopyDir runs rclone copy of dir to the instance's bucket and
// returns how long it took, process start to exit.
func (b *bench) rcloneCopyDir(ctx context.Context, in *instance) (time.Duration, error) {
	return timed(ctx, copyTimeout, func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, "rclone", "copy", in.dir, "m:"+in.bucket, "--transfers", strconv.Itoa(b.transfers))
		cmd.Env = in.rcloneEnv
		cmd.WaitDelay = 5 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("rclone copy: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// checkBucket fills a warning cell when the bucket does not hold want
// (counted as in addObject), and none when it does.
func (b *bench) checkBucket(ctx context.Context, in *instance, id measureID, want treeStats, out map[measureID]cell) {
	got, err := in.minio.bucketStats(ctx, in.bucket)
	switch {
	case err != nil:
		out[id] = failed(err)
	case got != want:
		out[id] = note(fmt.Sprintf("bucket holds %s, want %s", got, want))
		b.lg.Warn("bucket incomplete", "contender", in.name, "bucket", in.bucket, "holds", got, "want", want)
	}
}

// s3Untar extracts the tarball into a mount of a fresh bucket, timed until
// tar exits and until everything is in the bucket. rclone copy instead
// copies the extracted tree from a plain directory, untimed extraction
// first: the time to beat for getting the tree into the bucket.
func (b *bench) s3Untar(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	if in.name == rcloneCopy {
		out[mS3Untar] = note("n/a")
		if err := bounded(ctx, untarTimeout, func(ctx context.Context) error {
			return extract(ctx, b.tarball, in.dir)
		}); err != nil {
			out[mS3UntarFlush] = failed(fmt.Errorf("prepare: %w", err))
			return out
		}
		syncAll() // the copy reads a clean page cache and competes with no writeback
		d, err := b.rcloneCopyDir(ctx, in)
		if err != nil {
			out[mS3UntarFlush] = failed(err)
			return out
		}
		out[mS3UntarFlush] = num(d.Seconds())
		b.checkBucket(ctx, in, mS3UntarCheck, b.tarStats, out)
		return out
	}

	start := time.Now()
	tarTime, err := timed(ctx, untarTimeout, func(ctx context.Context) error {
		return extract(ctx, b.tarball, in.dir)
	})
	if err != nil {
		out[mS3Untar], out[mS3UntarFlush] = failed(err), failedf("untar failed")
		return out
	}
	out[mS3Untar] = num(tarTime.Seconds())
	var done time.Time
	err = bounded(ctx, flushTimeout+2*time.Minute, func(ctx context.Context) error {
		var err error
		done, err = in.inBucket(ctx, b.tarStats)
		return err
	})
	if err != nil {
		out[mS3UntarFlush] = failed(err)
		return out
	}
	out[mS3UntarFlush] = num(done.Sub(start).Seconds())
	b.lg.Info("untar done", "contender", in.name, "tar", tarTime.Round(time.Millisecond),
		"in the bucket", done.Sub(start).Round(time.Millisecond))
	b.checkBucket(ctx, in, mS3UntarCheck, b.tarStats, out)
	return out
}

// s3Seq writes one b.seqSize file into a mount of a fresh bucket and
// times it from the start of the write until the file is in the bucket.
// rclone copy instead copies the same file from a plain directory, where
// it was written untimed first.
func (b *bench) s3Seq(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	path := filepath.Join(in.dir, "seq.bin")
	want := treeStats{files: 1, bytes: b.seqSize}
	var elapsed time.Duration
	if in.name == rcloneCopy {
		if err := bounded(ctx, phaseTimeout, func(ctx context.Context) error {
			return writeBlocks(ctx, path, b.seqSize, false)
		}); err != nil {
			out[mS3Upload] = failed(fmt.Errorf("prepare: %w", err))
			return out
		}
		syncAll()
		d, err := b.rcloneCopyDir(ctx, in)
		if err != nil {
			out[mS3Upload] = failed(err)
			return out
		}
		elapsed = d
	} else {
		start := time.Now()
		if err := bounded(ctx, phaseTimeout, func(ctx context.Context) error {
			return writeBlocks(ctx, path, b.seqSize, false)
		}); err != nil {
			out[mS3Upload] = failed(err)
			return out
		}
		var done time.Time
		if err := bounded(ctx, flushTimeout+2*time.Minute, func(ctx context.Context) error {
			var err error
			done, err = in.inBucket(ctx, want)
			return err
		}); err != nil {
			out[mS3Upload] = failed(err)
			return out
		}
		elapsed = done.Sub(start)
	}
	out[mS3Upload] = num(float64(b.seqSize) / 1e6 / elapsed.Seconds())
	b.checkBucket(ctx, in, mS3UploadCheck, want, out)
	return out
}
