package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/vfs"
	"github.com/ferry-fs/ferry/vfs/gofuse"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/spf13/cobra"
)

// kernelCacheTime is how long the kernel may trust names and attributes it
// was given. Every change goes through the kernel for now, so it never sees
// a stale one; a remote change feed must notify the kernel when it lands.
const kernelCacheTime = time.Minute

type mountOptions struct {
	cacheDir    string
	writeBack   time.Duration
	transfers   int
	logLevel    string
	readOnly    bool
	allowOther  bool
	debugFuse   bool
	passthrough bool
	cacheMax    sizeFlag
	s3          s3Options
	sync        syncOptions
	// s3PathStyleSet: --s3-path-style was given, overriding the default.
	s3PathStyleSet bool
}

func mountCmd() *cobra.Command {
	var o mountOptions
	c := &cobra.Command{
		Use:   "mount REMOTE MOUNTPOINT",
		Short: "Mount REMOTE (a folder path, file:// URL or s3://BUCKET[/PREFIX]) at MOUNTPOINT, in the foreground",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.s3PathStyleSet = cmd.Flags().Changed("s3-path-style")
			return runMount(args[0], args[1], o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.cacheDir, "cache-dir", "", "cache directory (default: a per-mount directory under the user cache dir)")
	f.DurationVar(&o.writeBack, "write-back", 2*time.Second, "upload a file this long after its last change")
	f.IntVar(&o.transfers, "transfers", 8, "uploads to run in parallel")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&o.readOnly, "read-only", false, "mount read-only")
	f.BoolVar(&o.allowOther, "allow-other", false, "let other users access the mount")
	f.BoolVar(&o.debugFuse, "debug-fuse", false, "log every FUSE request")
	f.BoolVar(&o.passthrough, "passthrough", true, "let the kernel read and write cached files directly (Linux 6.9+, as root)")
	o.cacheMax = 10 << 30
	f.Var(&o.cacheMax, "cache-max-size", "keep at most this much file content in the cache (e.g. 10GiB); clean, unpinned files are evicted first-used-longest-ago")
	o.s3.register(c)
	o.sync.register(c)
	return c
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// prepareMountpoint checks that mp can be mounted on, cleaning up a
// mountpoint left stale by a crashed ferry.
func prepareMountpoint(mp string, log *slog.Logger) error {
	_, err := os.Stat(mp)
	if err == nil {
		// The kernel answers stat from its attribute cache for a while after
		// the FUSE server died; statfs always asks the server.
		var st syscall.Statfs_t
		if serr := syscall.Statfs(mp, &st); isStale(serr) {
			err = &os.PathError{Op: "statfs", Path: mp, Err: serr}
		}
	}
	if isStale(err) {
		log.Warn("cleaning up a stale mountpoint", "mountpoint", mp)
		if uerr := detach(mp); uerr != nil {
			if out, ferr := exec.Command("fusermount3", "-u", "-z", mp).CombinedOutput(); ferr != nil {
				return fmt.Errorf("mountpoint %s is stale and cannot be unmounted: %v %s", mp, uerr, strings.TrimSpace(string(out)))
			}
		}
		_, err = os.Stat(mp)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mountpoint %s does not exist", mp)
	}
	if err != nil {
		return fmt.Errorf("mountpoint %s: %v", mp, unwrapPathErr(err))
	}
	if mounted, _ := isMounted(mp); mounted {
		return fmt.Errorf("mountpoint %s is already mounted", mp)
	}
	d, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %v", mp, unwrapPathErr(err))
	}
	defer d.Close()
	st, err := d.Stat()
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", mp)
	}
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mountpoint %s is not empty", mp)
	}
	return nil
}

func runMount(remoteSpec, mpArg string, o mountOptions) error {
	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	if o.transfers < 1 {
		return fmt.Errorf("--transfers must be at least 1, not %d", o.transfers)
	}
	if o.writeBack < 0 {
		return fmt.Errorf("--write-back must not be negative")
	}
	if err := o.sync.check(); err != nil {
		return err
	}
	if o.sync.mode == modeDownload {
		o.readOnly = true // the remote is the source
	}
	ctx := context.Background()
	t, err := openRemote(ctx, remoteSpec, o.s3, o.s3PathStyleSet, log)
	if err != nil {
		return err
	}
	mp, err := normMount(mpArg)
	if err != nil {
		return err
	}
	if err := prepareMountpoint(mp, log); err != nil {
		return err
	}
	if mp, err = absPath(mp); err != nil {
		return err
	}
	root := t.localRoot
	if root != "" && within(root, mp) {
		return fmt.Errorf("remote %s is inside the mountpoint %s", root, mp)
	}
	if root != "" && within(mp, root) {
		return fmt.Errorf("mountpoint %s is inside the remote %s", mp, root)
	}
	cacheDir := o.cacheDir
	if cacheDir == "" {
		if cacheDir, err = defaultCacheDir(t.name, mp); err != nil {
			return err
		}
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return err
	}
	if within(cacheDir, mp) {
		return fmt.Errorf("cache dir %s is inside the mountpoint %s", cacheDir, mp)
	}
	if root != "" && within(cacheDir, root) {
		return fmt.Errorf("cache dir %s is inside the remote %s", cacheDir, root)
	}
	_, statErr := os.Stat(filepath.Join(cacheDir, "meta.db"))
	if t.offline != nil {
		if statErr != nil {
			return t.offline // nothing cached to work from
		}
		log.Warn("remote unreachable: working from the cache, uploads wait", "err", t.offline)
	}

	store, err := cache.Open(cacheDir, log)
	if err != nil {
		return err
	}
	defer store.Close()
	rem := t.rem
	j := journal.Open(store)
	fs, err := vfs.New(vfs.Config{Store: store, Journal: j, Log: log, ReadOnly: o.readOnly,
		MaxPathLen: t.maxPath, DirOverhead: t.dirOver, LinkOverhead: t.linkOver, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())})
	if err != nil {
		return err
	}
	defer fs.Close()
	deviceID, err := deviceID(cacheDir, o.sync.device)
	if err != nil {
		return err
	}
	if d, ok := rem.(interface{ SetDevice(string) }); ok {
		d.SetDevice(deviceID) // its deletes know their own tombstones after a restart
	}
	up, err := journal.NewUploader(store, j, rem, fs, journal.Config{Transfers: o.transfers, WriteBack: o.writeBack, Log: log,
		Device: o.sync.device, DeviceID: deviceID, Tree: fs, KeepDeletes: o.sync.mode == modeUpload && !o.sync.uploadDeletes,
		UploadOnly: o.sync.mode == modeUpload})
	if err != nil {
		return err
	}
	defer up.Close()
	fs.SetFetcher(up)
	// A read-only mount (the download mode is one) only reads the remote:
	// cleaning it up is for the devices that write there.
	if c, ok := rem.(remote.UploadCleaner); ok && !o.readOnly {
		// Parts of uploads abandoned long ago (by other tools, or caches
		// that are gone) cost storage; recent ones may still be resumed.
		stop := daily(ctx, store, "uploads-cleaned", "abort abandoned multipart uploads", func(ctx context.Context) (int, error) {
			return c.CleanupUploads(ctx, 7*24*time.Hour)
		}, log)
		defer stop()
	}
	// The first mount of a remote lists its tree in the background; a
	// directory opened before the import reaches it is listed on the spot.
	if err := fs.StartImport(rem, up.Adopt); err != nil {
		return err
	}
	pc := o.sync.pollConfig()
	pc.UploadOnly = o.sync.mode == modeUpload
	pc.ReadOnly = o.readOnly
	up.StartPolling(pc) // a watched remote is watched from here on
	bg, stopBg := context.WithCancel(ctx)
	defer stopBg()
	go importTree(bg, fs, rem, up, t.name, log)
	if !o.readOnly {
		stopTrash := startTrashPurge(ctx, rem, store, o.sync.trashDays, log)
		defer stopTrash()
	}
	stopEvictor := startEvictor(fs, up, int64(o.cacheMax))
	defer stopEvictor()

	// The control socket and the registry entry come first: once the
	// kernel shows the mount, `ferry status` and `ferry flush` must work.
	m := &mount{mp: mp, remote: t.name, cacheDir: cacheDir, up: up, store: store, rem: rem, fs: fs, log: log}
	stopControl, err := serveControl(cacheDir, m.handler())
	if err != nil {
		return err
	}
	defer stopControl()
	if err := register(registryEntry{Mountpoint: mp, CacheDir: cacheDir, Remote: t.name, PID: os.Getpid()}); err != nil {
		log.Warn("register mount", "err", err)
	}
	defer unregister(mp)
	srv, err := gofuse.Mount(fs, mp, gofuse.Options{FsName: t.name, ReadOnly: o.readOnly, AllowOther: o.allowOther,
		Timeout: kernelCacheTime, Debug: o.debugFuse, Passthrough: o.passthrough})
	if err != nil {
		return fmt.Errorf("mount %s: %v", mp, err)
	}
	m.setServer(srv)
	log.Info("mounted", "remote", t.name, "mountpoint", mp, "cache", cacheDir)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			log.Info("unmounting", "signal", s.String())
			if err := m.unmount(); err != nil {
				log.Error("unmount", "err", err)
			}
		}
	}()
	srv.Wait()
	signal.Stop(sigs)
	st := up.Stats()
	log.Info("unmounted", "mountpoint", mp, "pending_ops", st.PendingOps)
	return nil
}

// mount is a running mount, as the control socket sees it.
type mount struct {
	mp, remote, cacheDir string
	up                   *journal.Uploader
	store                *cache.Store
	rem                  remote.Remote
	fs                   *vfs.FS
	log                  *slog.Logger

	mu  sync.Mutex   // serialises unmounts; guards srv
	srv *fuse.Server // nil until the kernel has the mount
}

func (m *mount) setServer(srv *fuse.Server) {
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
}

// unmount detaches the filesystem; pending ops stay in the journal.
func (m *mount) unmount() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv == nil {
		return fmt.Errorf("%s is not mounted yet", m.mp)
	}
	if err := m.srv.Unmount(); err != nil {
		if errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), "busy") {
			return fmt.Errorf("%s is busy: close the files and shells using it", m.mp)
		}
		return err
	}
	return nil
}

type statusReply struct {
	Mountpoint string `json:"mountpoint"`
	Remote     string `json:"remote"`
	CacheDir   string `json:"cache_dir"`
	PID        int    `json:"pid"`
	journal.Stats
	journal.PollStats
	// RemoteRequests counts the requests sent to the remote since the
	// mount started, by API operation; absent for backends that do not count.
	RemoteRequests map[string]uint64 `json:"remote_requests,omitempty"`
	// Import: the first mount's listing of the remote tree.
	ImportDone    bool  `json:"import_done"`
	ImportEntries int64 `json:"import_entries"`
	// ReadError: why the last download of a file not cached here failed,
	// and when; empty once one has landed since.
	ReadError   string    `json:"read_error,omitempty"`
	ReadErrorAt time.Time `json:"read_error_at,omitzero"`
}

func (m *mount) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		reply := statusReply{Mountpoint: m.mp, Remote: m.remote, CacheDir: m.cacheDir, PID: os.Getpid(), Stats: m.up.Stats(), PollStats: m.up.PollStats()}
		if c, ok := m.rem.(remote.Counter); ok {
			reply.RemoteRequests = c.Requests()
		}
		reply.ImportEntries, reply.ImportDone = m.fs.ImportState()
		reply.ReadError, reply.ReadErrorAt = m.fs.FetchError()
		writeJSON(w, 200, reply)
	})
	mux.HandleFunc("POST /flush", func(w http.ResponseWriter, r *http.Request) {
		timeout, err := queryDuration(r, "timeout")
		if err != nil {
			writeErr(w, 400, err)
			return
		}
		ctx := r.Context()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		failed, err := m.up.Flush(ctx)
		if err != nil {
			writeErr(w, 504, err)
			return
		}
		writeJSON(w, 200, map[string]any{"failed": failed})
	})
	mux.HandleFunc("GET /journal", func(w http.ResponseWriter, r *http.Request) {
		limit, err := queryInt(r, "limit")
		if err != nil {
			writeErr(w, 400, err)
			return
		}
		m.store.Fold()
		ops, err := journal.List(m.store, journal.Filter{State: journal.State(r.URL.Query().Get("state")), Limit: limit})
		if err != nil {
			writeErr(w, 500, err)
			return
		}
		writeJSON(w, 200, ops)
	})
	mux.HandleFunc("POST /unmount", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("drain") == "1" {
			if _, err := m.up.Flush(r.Context()); err != nil {
				writeErr(w, 504, err)
				return
			}
		}
		if err := m.unmount(); err != nil {
			writeErr(w, 409, err)
			return
		}
		writeJSON(w, 200, map[string]any{"pending_ops": m.up.Stats().PendingOps})
	})
	m.syncRoutes(mux)
	m.pinRoutes(mux)
	return mux
}

// importTree runs the import of the remote's tree until it completes,
// retrying after failures (an endpoint that is down), until ctx ends.
func importTree(ctx context.Context, fs *vfs.FS, rem remote.Remote, up *journal.Uploader, name string, log *slog.Logger) {
	for {
		n, err := fs.Import(ctx, rem, up.Adopt)
		if err == nil {
			if n > 0 {
				log.Info("imported the remote tree; file content downloads on first open", "entries", n)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("import the remote tree; retrying in 30s", "remote", name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}
