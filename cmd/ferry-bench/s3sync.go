package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The two-way sync workload (s3-sync): how fast a change made through one
// mount shows in another, what an idle mount of a large bucket costs, and
// how fast a large bucket mounts the first time and again.
const (
	syncFilesPerDir  = 1000             // the large bucket holds dNNN/fNNNN, this many files a directory
	syncPutters      = 64               // parallel PutObjects that fill it
	syncFillTimeout  = 30 * time.Minute // to fill it
	syncPollInterval = time.Second      // ferry's --poll-interval, but at the remount
	syncWriteBack    = 100 * time.Millisecond

	pickupTrials    = 10
	pickupCap       = 60 * time.Second // a trial gives up after this
	pickupGiveUps   = 2                // trials in a row that give up before the rest are skipped as given up
	pickupStatEvery = 20 * time.Millisecond
	pickupSetup     = 30 * time.Second // for the directory the trials write in to show on B

	idlePolls    = 20
	burstGap     = 300 * time.Millisecond // requests closer than this belong to one poll
	syncMountCap = 5 * time.Minute        // a (re)mount: until ls answers, and until the whole tree is listed
	statusWait   = 10 * time.Second       // one ferry status
)

// s3Sync runs the four rows of the two-way sync table for one contender:
// two mounts of a fresh bucket for the pickup latency, then one mount of
// the run's large bucket, first with a fresh cache and then again.
func (b *bench) s3Sync(ctx context.Context, in *instance) map[measureID]cell {
	out := map[measureID]cell{}
	var warnings []string
	warn := func(msg string, args ...any) {
		b.lg.Warn(msg, append([]any{"contender", in.name}, args...)...)
		s := msg
		for i := 0; i+1 < len(args); i += 2 {
			s += fmt.Sprintf(" %v=%v", args[i], args[i+1])
		}
		warnings = append(warnings, in.name+": "+s)
	}
	b.syncPickup(ctx, in, out, warn)
	if ctx.Err() == nil {
		bucket, err := b.fillSyncBucket(ctx)
		if err != nil {
			for _, id := range []measureID{mSyncPollRequests, mSyncPollCPU, mSyncFirstLs, mSyncFirstTree,
				mSyncFirstRSS, mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists} {
				out[id] = failed(err)
			}
		} else {
			b.syncLarge(ctx, in, bucket, out, warn)
		}
	}
	if len(warnings) > 0 {
		out[mSyncCheck] = note(strings.Join(warnings, "; "))
	}
	return out
}

// A syncMount is one mount of the sync workload, which starts and stops
// its own: several per contender, some of them slow to come up.
type syncMount struct {
	name    string // the contender
	dir     string // the mountpoint
	ferry   string // the ferry binary, for status and unmount
	started time.Time
	proc    *mountProc
	stopped bool
}

// startSyncMount is spawnSyncMount through the endpoint of the bench's
// MinIO, polling every syncPollInterval, waiting until it is mounted.
func (b *bench) startSyncMount(ctx context.Context, name, root, logName, bucket, device string) (*syncMount, error) {
	m, err := b.spawnSyncMount(name, root, logName, bucket, b.minio.endpoint, syncPollInterval, device)
	if err != nil {
		return nil, err
	}
	if err := m.proc.waitMounted(ctx); err != nil {
		m.stop()
		return nil, fmt.Errorf("mount %s: %w", device, err)
	}
	return m, nil
}

// spawnSyncMount starts a mount of bucket at root/mnt with its cache in
// root/cache, through endpoint, and returns without waiting for it.
// ferry polls every poll.
func (b *bench) spawnSyncMount(name, root, logName, bucket, endpoint string, poll time.Duration, device string) (*syncMount, error) {
	mnt, cache := filepath.Join(root, "mnt"), filepath.Join(root, "cache")
	for _, d := range []string{mnt, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var argv, env []string
	switch name {
	case ferry:
		argv = []string{b.ferryBin, "mount", "s3://" + bucket, mnt, "--s3-endpoint", endpoint,
			"--transfers", strconv.Itoa(b.transfers), "--cache-dir", cache, "--device-name", device,
			"--write-back", syncWriteBack.String(), "--poll-interval", poll.String(), "--rescan-interval", "0"}
		env = b.minio.ferryEnvS3()
	case rcloneMount:
		argv = []string{"rclone", "mount", "m:" + bucket, mnt, "--vfs-cache-mode", "full", "--cache-dir", cache,
			"--transfers", strconv.Itoa(b.transfers)}
		env = b.minio.rcloneEnvS3Via(b.rcloneConf, endpoint)
	default:
		return nil, fmt.Errorf("no sync mount for %q", name)
	}
	s := &syncMount{name: name, dir: mnt, ferry: b.ferryBin, started: time.Now()}
	proc, err := spawnMount(b.lg, name, argv, env, mnt, filepath.Join(root, logName))
	if err != nil {
		return nil, err
	}
	s.proc = proc
	return s, nil
}

// stop unmounts (ferry through ferry unmount) and ends the daemon; a
// second call does nothing.
func (s *syncMount) stop() {
	if s == nil || s.stopped {
		return
	}
	s.stopped = true
	var unmount []string
	if s.name == ferry {
		unmount = []string{s.ferry, "unmount", s.dir}
	}
	s.proc.stop(unmount)
}

// ferryStatus is the part of `ferry status --json` the bench reads.
type ferryStatus struct {
	LastPoll       time.Time         `json:"last_poll"`
	Applied        uint64            `json:"remote_changes_applied"`
	RemoteRequests map[string]uint64 `json:"remote_requests"`
	ImportDone     *bool             `json:"import_done"` // nil from a ferry that imports before it mounts
	ImportEntries  int64             `json:"import_entries"`
}

// total is the number of requests in the status, all operations.
func (st ferryStatus) total() uint64 {
	var n uint64
	for _, c := range st.RemoteRequests {
		n += c
	}
	return n
}

func (s *syncMount) status(ctx context.Context) (ferryStatus, error) {
	var st ferryStatus
	ctx, cancel := context.WithTimeout(ctx, statusWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ferry, "status", s.dir, "--json")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return st, fmt.Errorf("ferry status: %w: %s", err, strings.TrimSpace(string(exit.Stderr)))
		}
		return st, fmt.Errorf("ferry status: %w", err)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("ferry status --json: %w", err)
	}
	if st.RemoteRequests == nil {
		return st, errors.New("ferry status --json has no remote_requests")
	}
	return st, nil
}

// flush runs ferry flush on the mount.
func (s *syncMount) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pickupCap+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ferry, "flush", s.dir, "--timeout", pickupCap.String())
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ferry flush: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// syncPickup fills row 1. ferry: mounts A and B of a fresh bucket; each
// trial writes a new file on A, starts ferry flush A, and times from the
// close on A until B's stat of the path succeeds. rclone: B is an rclone
// mount, and A is rclone copyto of a local file into the bucket, timed
// from copyto's exit.
func (b *bench) syncPickup(ctx context.Context, in *instance, out map[measureID]cell, warn func(string, ...any)) {
	fail := func(err error) {
		out[mSyncPickupMedian], out[mSyncPickupP95] = failed(err), failedf("see the median")
	}
	b.buckets++
	bucket := fmt.Sprintf("s3-sync-%s-%d", in.name, b.buckets)
	if err := b.minio.createBucket(ctx, bucket); err != nil {
		fail(err)
		return
	}
	defer func() {
		if err := b.minio.removeBucket(bucket); err != nil {
			b.lg.Error("cleanup failed", "bucket", bucket, "err", err)
		}
	}()

	var write func(ctx context.Context, name, content string) error // the change on A, done when it returns
	var beside func(ctx context.Context) error                      // runs while B is watched
	switch in.name {
	case ferry:
		a, err := b.startSyncMount(ctx, ferry, filepath.Join(in.root, "pickup-a"), "ferry.log", bucket, "bench-a")
		if err != nil {
			fail(err)
			return
		}
		defer a.stop()
		write = func(ctx context.Context, name, content string) error {
			p := filepath.Join(a.dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, []byte(content), 0o644)
		}
		beside = a.flush
	case rcloneMount:
		src := filepath.Join(in.root, "pickup-src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			fail(err)
			return
		}
		env := b.minio.rcloneEnvS3(b.rcloneConf)
		write = func(ctx context.Context, name, content string) error {
			local := filepath.Join(src, filepath.Base(name))
			if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "rclone", "copyto", local, "m:"+bucket+"/"+name)
			cmd.Env = env
			cmd.WaitDelay = 5 * time.Second
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("rclone copyto: %w: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	default:
		fail(fmt.Errorf("no pickup trial for %q", in.name))
		return
	}
	bm, err := b.startSyncMount(ctx, in.name, filepath.Join(in.root, "pickup-b"), in.name+".log", bucket, "bench-b")
	if err != nil {
		fail(err)
		return
	}
	defer bm.stop()

	// The trials write into pickup/, which B has listed beforehand: rclone
	// lists a directory it has not seen yet on first access, which would
	// make any change look picked up at once.
	if err := write(ctx, "pickup/.keep", "keep\n"); err != nil {
		fail(fmt.Errorf("set up pickup/: %w", err))
		return
	}
	if beside != nil {
		if err := beside(ctx); err != nil {
			fail(fmt.Errorf("set up pickup/: %w", err))
			return
		}
	}
	if err := bounded(ctx, pickupSetup+10*time.Second, func(ctx context.Context) error {
		return waitUntil(ctx, pickupSetup, func() bool {
			names, err := readDirNames(filepath.Join(bm.dir, "pickup"))
			return err == nil && slices.Contains(names, ".keep")
		})
	}); err != nil {
		fail(fmt.Errorf("pickup/ not on B: %w", err))
		return
	}

	var samples []cell
	giveUps := 0
	lastSeen := -1
	for i := range pickupTrials {
		if ctx.Err() != nil {
			fail(ctx.Err())
			return
		}
		if giveUps == pickupGiveUps {
			samples = append(samples, gaveUp(pickupCap))
			continue
		}
		// A trial ends just after one of B's polls (ferry's; rclone's end
		// by giving up). Without a wait every write would come right after
		// a poll and wait out a whole interval; these waits spread the
		// writes evenly over B's poll cycle.
		time.Sleep(pickupWait(i))
		name := fmt.Sprintf("pickup/f%02d", i)
		if err := write(ctx, name, pickupContent(i)); err != nil {
			fail(fmt.Errorf("trial %d: write on A: %w", i, err))
			return
		}
		t0 := time.Now()
		besideErr := make(chan error, 1)
		if beside != nil {
			go func() { besideErr <- beside(ctx) }()
		} else {
			besideErr <- nil
		}
		var latency time.Duration
		seen := false
		err := bounded(ctx, pickupCap+10*time.Second, func(ctx context.Context) error {
			p := filepath.Join(bm.dir, name)
			return waitUntil(ctx, pickupCap, func() bool {
				if _, err := os.Stat(p); err == nil {
					latency, seen = time.Since(t0), true
					return true
				}
				return false
			})
		})
		if err != nil && !errors.Is(err, errGaveUp) {
			fail(fmt.Errorf("trial %d: %w", i, err))
			return
		}
		if err := <-besideErr; err != nil {
			warn("flush A failed", "trial", i, "err", err)
		}
		if seen {
			samples = append(samples, num(latency.Seconds()))
			giveUps = 0
			lastSeen = i
			b.lg.Info("pickup", "contender", in.name, "trial", i, "latency", latency.Round(time.Millisecond))
		} else {
			samples = append(samples, gaveUp(pickupCap))
			giveUps++
			b.lg.Info("pickup gave up", "contender", in.name, "trial", i, "after", pickupCap)
		}
	}
	out[mSyncPickupMedian] = combine(samples)
	out[mSyncPickupP95] = nearestRank(samples, 0.95)

	// What B shows must be what A wrote, not just the name.
	if lastSeen >= 0 {
		name := fmt.Sprintf("pickup/f%02d", lastSeen)
		var got []byte
		err := bounded(ctx, time.Minute, func(context.Context) error {
			var err error
			got, err = os.ReadFile(filepath.Join(bm.dir, name))
			return err
		})
		if err != nil {
			warn("read on B failed", "file", name, "err", err)
		} else if string(got) != pickupContent(lastSeen) {
			warn("B reads other content than A wrote", "file", name, "got", fmt.Sprintf("%q", got))
		}
	}
}

// gaveUp is the cell of a measurement that gave up after d.
func gaveUp(d time.Duration) cell {
	c := atLeast(d.Seconds())
	c.whole = d%time.Second == 0
	return c
}

// pickupWait is how long trial i waits after the previous one: (i+½)/n
// of a poll interval for n trials.
func pickupWait(i int) time.Duration {
	return (2*time.Duration(i) + 1) * syncPollInterval / (2 * pickupTrials)
}

func pickupContent(i int) string { return fmt.Sprintf("change %d, made on A\n", i) }

// errGaveUp is waitUntil's error when the time is up.
var errGaveUp = errors.New("gave up")

// waitUntil calls ok every pickupStatEvery until it returns true, or
// returns errGaveUp after d.
func waitUntil(ctx context.Context, d time.Duration, ok func() bool) error {
	return waitEvery(ctx, d, pickupStatEvery, ok)
}

// waitEvery is waitUntil calling ok every interval.
func waitEvery(ctx context.Context, d, interval time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s", errGaveUp, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// nearestRank is the q-quantile of the cells by the nearest-rank method:
// the smallest that at least q of them do not exceed.
func nearestRank(cells []cell, q float64) cell {
	if len(cells) == 0 {
		return cell{}
	}
	s := slices.Clone(cells)
	slices.SortStableFunc(s, func(a, b cell) int { return cmp.Compare(a.v, b.v) })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// syncDirs is how many top-level directories a bucket of n objects has.
func syncDirs(n int) int { return (n + syncFilesPerDir - 1) / syncFilesPerDir }

func syncKey(i int) string {
	return fmt.Sprintf("d%03d/f%04d", i/syncFilesPerDir, i%syncFilesPerDir)
}

// fillSyncBucket makes the run's large bucket once: b.syncObjects tiny
// objects, PutObject straight into MinIO from syncPutters goroutines.
// Every contender's rows 2 to 4 mount it; it goes with MinIO's data at the
// end of the run.
func (b *bench) fillSyncBucket(ctx context.Context) (string, error) {
	if b.syncFilled {
		return b.syncBucket, b.syncFillErr
	}
	b.syncFilled = true
	b.syncBucket = "s3-sync-objects"
	b.syncFillErr = b.fillBucket(ctx, b.syncBucket, b.syncObjects)
	return b.syncBucket, b.syncFillErr
}

func (b *bench) fillBucket(ctx context.Context, bucket string, n int) error {
	if err := b.minio.createBucket(ctx, bucket); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, syncFillTimeout)
	defer cancel()
	client := s3.New(b.minio.client.Options(), func(o *s3.Options) {
		// The SDK's default pool keeps a few idle connections per host:
		// 64 putters would keep opening new ones.
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			MaxIdleConns: syncPutters, MaxIdleConnsPerHost: syncPutters, IdleConnTimeout: time.Minute,
		}}
	})
	start := time.Now()
	b.lg.Info("filling the sync bucket", "bucket", bucket, "objects", n, "putters", syncPutters)
	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range syncPutters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				key := syncKey(i)
				body := []byte(strconv.Itoa(i) + "\n")
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
				}); err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("fill bucket %s: put %s: %w", bucket, key, err)
						cancel()
					})
					return
				}
				done.Add(1)
			}
		})
	}
	stopProgress := make(chan struct{})
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				d := done.Load()
				b.lg.Info("filling the sync bucket", "done", d, "of", n,
					"per_s", int(float64(d)/time.Since(start).Seconds()))
			}
		}
	}()
	wg.Wait()
	close(stopProgress)
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fill bucket %s: %w after %d of %d objects", bucket, err, done.Load(), n)
	}
	b.lg.Info("sync bucket filled", "objects", n, "took", time.Since(start).Round(time.Second))
	return nil
}

// countFiles counts the regular files under dir from the directory
// entries alone, like find -type f: no stat of each file.
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n, err
}

// waitRootListed waits until ls of the mount's root shows every top-level
// directory of the large bucket and returns how long that took since the
// daemon started. It gives up (errGaveUp) syncMountCap after the start.
func waitRootListed(ctx context.Context, s *syncMount, dirs int) (time.Duration, error) {
	want := make([]string, dirs)
	for i := range want {
		want[i] = fmt.Sprintf("d%03d", i)
	}
	var took time.Duration
	var exited bool
	err := bounded(ctx, syncMountCap+30*time.Second, func(ctx context.Context) error {
		return waitUntil(ctx, syncMountCap-time.Since(s.started), func() bool {
			if s.proc.exited() {
				exited = true
				return true
			}
			names, err := readDirNames(s.dir)
			if err != nil || len(names) < dirs {
				return false
			}
			for _, w := range want {
				if !slices.Contains(names, w) {
					return false
				}
			}
			took = time.Since(s.started)
			return true
		})
	})
	if exited {
		return 0, fmt.Errorf("%s exited (%v): %s", s.name, s.proc.err, s.proc.logTail())
	}
	return took, err
}

// waitTreeListed walks the mount until it holds all n files and returns
// how long that took since the daemon started, or gives up (errGaveUp)
// syncMountCap after the start.
func waitTreeListed(ctx context.Context, s *syncMount, n int) (time.Duration, int, error) {
	var took time.Duration
	got := 0
	err := bounded(ctx, syncMountCap+30*time.Second, func(ctx context.Context) error {
		return waitUntil(ctx, syncMountCap-time.Since(s.started), func() bool {
			c, err := countFiles(s.dir)
			got = c
			if err != nil || c < n {
				return false
			}
			took = time.Since(s.started)
			return true
		})
	})
	return took, got, err
}

// syncLarge fills rows 2 to 4 from mounts of the large bucket through a
// counting proxy: the first mount with a fresh cache (row 3), then idle
// (row 2), then a remount with that cache (row 4).
func (b *bench) syncLarge(ctx context.Context, in *instance, bucket string, out map[measureID]cell, warn func(string, ...any)) {
	n := b.syncObjects
	dirs := syncDirs(n)
	later := func(err error, ids ...measureID) {
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				out[id] = failed(err)
			}
		}
	}
	b.settle() // MinIO lists the bucket cold, the same for every contender
	proxy, err := startS3Proxy(b.minio.endpoint)
	if err != nil {
		later(err, mSyncFirstLs, mSyncFirstTree, mSyncFirstRSS, mSyncPollRequests, mSyncPollCPU,
			mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}
	defer proxy.close()

	root := filepath.Join(in.root, "large")
	first, err := b.spawnSyncMount(in.name, root, in.name+"-first.log", bucket, proxy.endpoint, syncPollInterval, "bench-large")
	if err != nil {
		later(err, mSyncFirstLs, mSyncFirstTree, mSyncFirstRSS, mSyncPollRequests, mSyncPollCPU,
			mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}
	defer first.stop()
	rss := func() {
		if mb, err := first.proc.peakRSS(); err != nil {
			out[mSyncFirstRSS] = failed(err)
		} else if _, ok := out[mSyncFirstTree]; ok && out[mSyncFirstTree].over {
			out[mSyncFirstRSS] = atLeast(mb) // the peak so far; the mount was not done
		} else {
			out[mSyncFirstRSS] = num(mb)
		}
	}

	// Row 3: the first mount.
	lsTook, err := waitRootListed(ctx, first, dirs)
	switch {
	case errors.Is(err, errGaveUp):
		out[mSyncFirstLs], out[mSyncFirstTree] = gaveUp(syncMountCap), gaveUp(syncMountCap)
		rss()
		later(fmt.Errorf("first mount: no ls after %s", syncMountCap), mSyncPollRequests, mSyncPollCPU,
			mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	case err != nil:
		later(err, mSyncFirstLs, mSyncFirstTree, mSyncFirstRSS, mSyncPollRequests, mSyncPollCPU,
			mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}
	out[mSyncFirstLs] = num(lsTook.Seconds())
	b.lg.Info("first mount: ls answers", "contender", in.name, "after", lsTook.Round(time.Millisecond))
	treeTook, got, err := waitTreeListed(ctx, first, n)
	switch {
	case errors.Is(err, errGaveUp):
		out[mSyncFirstTree] = gaveUp(syncMountCap)
		warn("first mount: tree incomplete", "files", got, "want", n)
	case err != nil:
		out[mSyncFirstTree] = failed(err)
	default:
		out[mSyncFirstTree] = num(treeTook.Seconds())
		b.lg.Info("first mount: tree listed", "contender", in.name, "after", treeTook.Round(time.Millisecond))
	}
	rss()
	if first.proc.exited() {
		later(fmt.Errorf("%s exited: %s", in.name, first.proc.logTail()), mSyncPollRequests, mSyncPollCPU,
			mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}

	// Row 2: the same mount, idle.
	b.syncIdle(ctx, first, proxy, out, warn)

	// Row 4: unmount, and mount again with the same cache. ferry polls
	// only every hour, so that the requests counted are the start's.
	first.stop()
	b.settle()
	again, err := b.spawnSyncMount(in.name, root, in.name+"-remount.log", bucket, proxy.endpoint, time.Hour, "bench-large")
	if err != nil {
		later(err, mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}
	defer again.stop()
	lsTook, err = waitRootListed(ctx, again, dirs)
	ready := time.Now()
	switch {
	case errors.Is(err, errGaveUp):
		out[mSyncRemountLs] = gaveUp(syncMountCap)
		later(fmt.Errorf("remount: no ls after %s", syncMountCap), mSyncRemountLists, mSyncRemountTreeLists)
		return
	case err != nil:
		later(err, mSyncRemountLs, mSyncRemountLists, mSyncRemountTreeLists)
		return
	}
	out[mSyncRemountLs] = num(lsTook.Seconds())
	var st ferryStatus
	var stErr error
	if in.name == ferry {
		st, stErr = again.status(ctx)
	}
	reqs := proxy.between(again.started, time.Now())
	all, tree := countLists(reqs)
	b.lg.Info("remount: ls answers", "contender", in.name, "after", lsTook.Round(time.Millisecond),
		"lists", all, "of the tree", tree, "remote_requests", st.RemoteRequests, "proxy", describeRequests(reqs))
	switch {
	case in.name != ferry:
		out[mSyncRemountLists] = count(all)
	case stErr != nil:
		out[mSyncRemountLists] = failed(stErr)
	default:
		lists := st.RemoteRequests["ListObjectsV2"]
		out[mSyncRemountLists] = count(int(lists))
		if atReady, _ := countLists(proxy.between(again.started, ready)); int(lists) < atReady || int(lists) > all {
			warn("remote_requests disagrees with the proxy", "ListObjectsV2", lists, "proxy", all)
		}
	}
	out[mSyncRemountTreeLists] = count(tree)
}

// syncIdle fills row 2 on an idle mount. ferry: from just after a poll,
// idlePolls poll intervals; requests from ferry status's remote_requests
// before and after, polls from the bursts of requests the proxy saw, CPU
// from /proc/PID/stat. rclone does not poll: its cells are per second of
// the same time idle (ferry polls once a second).
func (b *bench) syncIdle(ctx context.Context, s *syncMount, proxy *s3Proxy, out map[measureID]cell, warn func(string, ...any)) {
	window := idlePolls * syncPollInterval
	if s.name != ferry {
		t0 := time.Now()
		cpu0, err := s.proc.cpuTime()
		if err != nil {
			out[mSyncPollRequests], out[mSyncPollCPU] = failed(err), failed(err)
			return
		}
		time.Sleep(window)
		cpu1, err := s.proc.cpuTime()
		if err != nil {
			out[mSyncPollRequests], out[mSyncPollCPU] = failed(err), failed(err)
			return
		}
		secs := time.Since(t0).Seconds()
		reqs := len(proxy.since(t0))
		b.lg.Info("idle", "contender", s.name, "seconds", secs, "requests", reqs, "cpu", cpu1-cpu0)
		out[mSyncPollRequests] = num(float64(reqs) / secs)
		out[mSyncPollCPU] = num(float64((cpu1 - cpu0).Microseconds()) / 1000 / secs)
		return
	}

	fail := func(err error) { out[mSyncPollRequests], out[mSyncPollCPU] = failed(err), failed(err) }
	// The import must be over: its listings are not the poll's.
	var st ferryStatus
	var stErr error
	err := waitEvery(ctx, syncMountCap-time.Since(s.started), 250*time.Millisecond, func() bool {
		st, stErr = s.status(ctx)
		return stErr != nil || st.ImportDone == nil || *st.ImportDone
	})
	if err == nil {
		err = stErr
	}
	switch {
	case errors.Is(err, errGaveUp):
		fail(fmt.Errorf("import not done after %s", syncMountCap))
		return
	case err != nil:
		fail(err)
		return
	}
	b.lg.Info("import done", "contender", s.name, "after", time.Since(s.started).Round(time.Millisecond),
		"import_entries", st.ImportEntries, "remote_requests", st.RemoteRequests)
	// Start between two polls: after one, before the next.
	time.Sleep(2 * burstGap)
	mark := time.Now()
	if err := waitUntil(ctx, 3*syncPollInterval, func() bool { return len(proxy.since(mark)) > 0 }); err != nil {
		fail(fmt.Errorf("no poll seen: %w", err))
		return
	}
	time.Sleep(burstGap)
	t0 := time.Now()
	st0, err := s.status(ctx)
	if err != nil {
		fail(err)
		return
	}
	cpu0, err := s.proc.cpuTime()
	if err != nil {
		fail(err)
		return
	}
	time.Sleep(window)
	cpu1, err := s.proc.cpuTime()
	if err != nil {
		fail(err)
		return
	}
	st1, err := s.status(ctx)
	if err != nil {
		fail(err)
		return
	}
	reqs := proxy.between(t0, time.Now())
	polls := bursts(reqs, burstGap)
	requests := st1.total() - st0.total()
	b.lg.Info("idle polls", "contender", s.name, "polls", polls, "requests", requests, "proxy_requests", len(reqs),
		"cpu", cpu1-cpu0, "before", st0.RemoteRequests, "after", st1.RemoteRequests)
	if polls == 0 {
		fail(fmt.Errorf("no poll in %s", window))
		return
	}
	if int(requests) != len(reqs) {
		warn("remote_requests disagrees with the proxy while idle", "remote_requests", requests, "proxy", len(reqs))
	}
	if lo, hi := idlePolls-2, idlePolls+1; polls < lo || polls > hi {
		warn("unexpected number of polls", "polls", polls, "in", window)
	}
	out[mSyncPollRequests] = num(float64(requests) / float64(polls))
	out[mSyncPollCPU] = num(float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(polls))
}
