package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
	"github.com/spf13/cobra"
)

const (
	modeTwoWay   = "two-way"
	modeUpload   = "upload"
	modeDownload = "download"
)

// syncOptions are the mount flags of two-way sync.
type syncOptions struct {
	mode           string
	uploadDeletes  bool
	device         string
	pollInterval   time.Duration
	rescanInterval time.Duration
	maxDelete      int
	trashDays      int
}

func (o *syncOptions) register(c *cobra.Command) {
	host, _ := os.Hostname()
	if host == "" {
		host = "ferry"
	}
	f := c.Flags()
	f.StringVar(&o.mode, "mode", modeTwoWay, "sync mode: two-way, upload (one-way backup) or download (read-only, follows the remote)")
	f.BoolVar(&o.uploadDeletes, "upload-deletes", false, "in upload mode, delete on the remote what is deleted here")
	f.StringVar(&o.device, "device-name", host, "this device's name in conflict copies")
	f.DurationVar(&o.pollInterval, "poll-interval", 5*time.Second, "how often to pull remote changes from the change log")
	f.DurationVar(&o.rescanInterval, "rescan-interval", time.Hour, "how often to list the whole remote for changes made by other tools (0: never)")
	f.IntVar(&o.maxDelete, "max-delete", 50, "hold remote deletes that would remove more than this percentage of the files (at least 100 files)")
	f.IntVar(&o.trashDays, "trash-days", 30, "keep deleted files in the remote's recycle bin this many days")
}

var deviceNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (o *syncOptions) check() error {
	switch o.mode {
	case modeTwoWay, modeUpload, modeDownload:
	default:
		return fmt.Errorf("--mode %q: use two-way, upload or download", o.mode)
	}
	if o.uploadDeletes && o.mode != modeUpload {
		return errors.New("--upload-deletes only applies to --mode upload")
	}
	if !deviceNameRE.MatchString(o.device) {
		return fmt.Errorf("--device-name %q: use 1 to 64 letters, digits, '.', '_' or '-'", o.device)
	}
	if o.pollInterval < 100*time.Millisecond {
		return fmt.Errorf("--poll-interval %s: must be at least 100ms", o.pollInterval)
	}
	if o.rescanInterval < 0 {
		return errors.New("--rescan-interval must not be negative")
	}
	if o.maxDelete < 1 || o.maxDelete > 100 {
		return fmt.Errorf("--max-delete %d: use a percentage from 1 to 100", o.maxDelete)
	}
	if o.trashDays < 1 {
		return fmt.Errorf("--trash-days %d: must be at least 1", o.trashDays)
	}
	return nil
}

func (o *syncOptions) pollConfig() journal.PollConfig {
	return journal.PollConfig{Interval: o.pollInterval, RescanInterval: o.rescanInterval,
		MaxDeletePercent: o.maxDelete, MaxDeleteMin: 100}
}

// deviceID returns the id that tells this cache's change-log objects from
// other devices': the device name and a random part made once per cache.
func deviceID(cacheDir, name string) (string, error) {
	p := filepath.Join(cacheDir, "device-id")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return name + "." + strings.TrimSpace(string(b)), nil
	}
	var r [6]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return name + "." + id, nil
}

// startTrashPurge deletes trashed files older than days from the remote's
// recycle bin, daily. The returned func stops it.
func startTrashPurge(ctx context.Context, rem remote.Remote, store *cache.Store, days int, log *slog.Logger) func() {
	area, ok := rem.(remote.Area)
	if !ok {
		return func() {}
	}
	return daily(ctx, store, "trash-purged", "purge the recycle bin", func(ctx context.Context) (int, error) {
		return purgeTrash(ctx, area, time.Now().AddDate(0, 0, -days))
	}, log)
}

// daily runs job, named what, in the background once a day: at once for a
// cache that never ran it, else a day after its last success, recorded in
// the cache under key. So a remount sends none of its requests. The count
// job returns is logged when not 0; a failure is logged and tried again in
// an hour. The returned func stops it.
func daily(ctx context.Context, store *cache.Store, key, what string, job func(context.Context) (int, error), log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		next := time.Unix(0, int64(store.GetUint(key))).Add(24 * time.Hour)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			n, err := job(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn(what, "err", err)
				next = time.Now().Add(time.Hour)
				continue
			}
			if n > 0 {
				log.Info(what, "count", n)
			}
			next = time.Now().Add(24 * time.Hour)
			b := new(cache.Batch)
			b.SetUint(key, uint64(time.Now().UnixNano()))
			if err := store.Commit(b); err != nil {
				log.Warn("record a daily job", "job", key, "err", err)
			}
		}
	}()
	return cancel
}

// purgeTrash deletes the trash of days before cutoff.
func purgeTrash(ctx context.Context, area remote.Area, cutoff time.Time) (int, error) {
	var old []string
	err := area.ListArea(ctx, "trash/", "", 0, func(o remote.AreaObject) error {
		if d, _, ok := trashPath(o.Name); ok && d.Before(cutoff.Truncate(24*time.Hour)) {
			old = append(old, o.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, name := range old {
		if err := area.DeleteArea(ctx, name); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// trashPath splits the area name "trash/<date>/<path>".
func trashPath(name string) (time.Time, string, bool) {
	rest, ok := strings.CutPrefix(name, "trash/")
	if !ok {
		return time.Time{}, "", false
	}
	date, p, ok := strings.Cut(rest, "/")
	if !ok {
		return time.Time{}, "", false
	}
	d, err := time.Parse("2006-01-02", date)
	return d, p, err == nil
}

// syncRoutes adds the control endpoints of two-way sync.
func (m *mount) syncRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		reply := map[string]any{}
		if r.URL.Query().Get("rescan") == "1" {
			if err := m.up.Rescan(r.Context()); err != nil {
				writeErr(w, 500, err)
				return
			}
		} else if err := m.up.PollOnce(r.Context()); err != nil {
			writeErr(w, 500, err)
			return
		}
		if r.URL.Query().Get("confirm-deletes") == "1" {
			n, err := m.up.ConfirmDeletes()
			if err != nil {
				writeErr(w, 500, err)
				return
			}
			reply["deleted"] = n
		}
		writeJSON(w, 200, reply)
	})
	area := func(w http.ResponseWriter) remote.Area {
		a, ok := m.rem.(remote.Area)
		if !ok {
			writeErr(w, 400, errors.New("this remote has no recycle bin"))
		}
		return a
	}
	mux.HandleFunc("GET /trash", func(w http.ResponseWriter, r *http.Request) {
		a := area(w)
		if a == nil {
			return
		}
		items := []trashItem{}
		err := a.ListArea(r.Context(), "trash/", "", 0, func(o remote.AreaObject) error {
			if d, p, ok := trashPath(o.Name); ok {
				items = append(items, trashItem{Name: o.Name, Path: p, Date: d.Format("2006-01-02"), Size: o.Size})
			}
			return nil
		})
		if err != nil {
			writeErr(w, 500, err)
			return
		}
		writeJSON(w, 200, items)
	})
	mux.HandleFunc("POST /trash/restore", func(w http.ResponseWriter, r *http.Request) {
		a := area(w)
		if a == nil {
			return
		}
		p := strings.Trim(r.URL.Query().Get("path"), "/")
		name, err := newestTrash(r.Context(), a, p)
		if err != nil {
			writeErr(w, 404, err)
			return
		}
		if _, err := a.RestoreArea(r.Context(), name, p); err != nil {
			writeErr(w, 409, fmt.Errorf("restore %s: %w", p, err))
			return
		}
		if err := m.up.Rescan(r.Context()); err != nil {
			writeErr(w, 500, err)
			return
		}
		writeJSON(w, 200, map[string]string{"restored": p})
	})
	mux.HandleFunc("POST /trash/empty", func(w http.ResponseWriter, r *http.Request) {
		a := area(w)
		if a == nil {
			return
		}
		n, err := purgeTrash(r.Context(), a, time.Now().AddDate(1, 0, 0))
		if err != nil {
			writeErr(w, 500, err)
			return
		}
		writeJSON(w, 200, map[string]int{"deleted": n})
	})
}

type trashItem struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Date string `json:"date"`
	Size int64  `json:"size"`
}

// newestTrash finds the latest trashed copy of path p.
func newestTrash(ctx context.Context, a remote.Area, p string) (string, error) {
	best := ""
	err := a.ListArea(ctx, "trash/", "", 0, func(o remote.AreaObject) error {
		if _, tp, ok := trashPath(o.Name); ok && tp == p && o.Name > best {
			best = o.Name
		}
		return nil
	})
	if err == nil && best == "" {
		err = fmt.Errorf("%s is not in the recycle bin", p)
	}
	return best, err
}

func syncCmd() *cobra.Command {
	var rescan, confirm bool
	c := &cobra.Command{
		Use:   "sync MOUNTPOINT",
		Short: "Pull remote changes now; --rescan lists the whole remote, --confirm-deletes applies held deletes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			q := url.Values{}
			if rescan {
				q.Set("rescan", "1")
			}
			if confirm {
				q.Set("confirm-deletes", "1")
			}
			var reply struct {
				Deleted int `json:"deleted"`
			}
			if err := cl.call(context.Background(), "POST", "sync", q, &reply); err != nil {
				return fmt.Errorf("sync %s: %w", args[0], err)
			}
			if confirm {
				fmt.Printf("applied %d held deletes\n", reply.Deleted)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&rescan, "rescan", false, "compare a full listing of the remote with the mount (finds changes made by other tools)")
	c.Flags().BoolVar(&confirm, "confirm-deletes", false, "apply the remote deletes held by the mass-delete guard")
	return c
}

// conflictRE matches the names of conflict copies.
var conflictRE = regexp.MustCompile(` \(conflict \d{4}-\d{2}-\d{2} \d{6} [^)]+\)`)

func conflictsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "conflicts MOUNTPOINT",
		Short: "List the conflict copies in the mount",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, err := running(args[0])
			if err != nil {
				return err
			}
			return filepath.WalkDir(e.Mountpoint, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if conflictRE.MatchString(d.Name()) {
					rel, _ := filepath.Rel(e.Mountpoint, p)
					fmt.Println(rel)
				}
				return nil
			})
		},
	}
}

func trashCmd() *cobra.Command {
	c := &cobra.Command{Use: "trash", Short: "The remote's recycle bin: ls, restore, empty"}
	c.AddCommand(&cobra.Command{
		Use: "ls MOUNTPOINT", Short: "List deleted files kept in the recycle bin", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			var items []trashItem
			if err := cl.call(context.Background(), "GET", "trash", nil, &items); err != nil {
				return fmt.Errorf("trash ls %s: %w", args[0], err)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DELETED\tSIZE\tPATH")
			for _, it := range items {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", it.Date, it.Size, it.Path)
			}
			return tw.Flush()
		},
	})
	c.AddCommand(&cobra.Command{
		Use: "restore MOUNTPOINT PATH", Short: "Bring the newest deleted copy of PATH back", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			if err := cl.call(context.Background(), "POST", "trash/restore", url.Values{"path": {args[1]}}, nil); err != nil {
				return fmt.Errorf("trash restore: %w", err)
			}
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use: "empty MOUNTPOINT", Short: "Delete everything in the recycle bin for good", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			var reply map[string]int
			if err := cl.call(context.Background(), "POST", "trash/empty", nil, &reply); err != nil {
				return fmt.Errorf("trash empty: %w", err)
			}
			fmt.Printf("deleted %d files for good\n", reply["deleted"])
			return nil
		},
	})
	return c
}

// printSyncStatus is the two-way sync part of `ferry status`.
func printSyncStatus(w io.Writer, st statusReply) {
	imp := "done"
	if !st.ImportDone {
		imp = fmt.Sprintf("listing the remote (%d entries so far)", st.ImportEntries)
	}
	fmt.Fprintf(w, "import:\t%s\n", imp)
	last := "never"
	if !st.LastPoll.IsZero() {
		last = st.LastPoll.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "last poll:\t%s (%d remote changes applied)\n", last, st.Applied)
	if st.Watching {
		fmt.Fprintf(w, "watching:\tthe folder reports its changes as they happen\n")
	}
	if !st.LastRescan.IsZero() {
		fmt.Fprintf(w, "last rescan:\t%s\n", st.LastRescan.Format(time.RFC3339))
	}
	if st.PollError != "" {
		fmt.Fprintf(w, "poll error:\t%s\n", st.PollError)
	}
	if st.ReadError != "" {
		fmt.Fprintf(w, "read error:\t%s: files not cached here cannot be read (EIO): %s\n", st.ReadErrorAt.Format(time.RFC3339), st.ReadError)
	}
	if st.NotApplied > 0 {
		fmt.Fprintf(w, "not applied:\t%d remote changes (the next rescan tries again); last: %s\n", st.NotApplied, st.ApplyError)
	}
	if st.Conflicts > 0 {
		fmt.Fprintf(w, "conflicts:\t%d conflict copies made (ferry conflicts MOUNTPOINT)\n", st.Conflicts)
	}
	if n := len(st.HeldDeletes); n > 0 {
		fmt.Fprintf(w, "held deletes:\t%d remote deletes held; apply with ferry sync --confirm-deletes MOUNTPOINT\n", n)
		for _, p := range st.HeldDeletes[:min(n, 20)] {
			fmt.Fprintf(w, "\t%s\n", p)
		}
		if n > 20 {
			fmt.Fprintf(w, "\t... and %d more\n", n-20)
		}
	}
	if n := len(st.SkippedKeys); n > 0 {
		fmt.Fprintf(w, "skipped keys:\t%d remote keys that cannot be a path here\n", n)
		for _, k := range st.SkippedKeys[:min(n, 20)] {
			fmt.Fprintf(w, "\t%q\n", k)
		}
		if n > 20 {
			fmt.Fprintf(w, "\t... and %d more (ferry status --json lists them all)\n", n-20)
		}
	}
}
