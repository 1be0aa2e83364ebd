package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/journal"
	"github.com/spf13/cobra"
)

// running finds the mount at mp and a client for its control socket.
func running(mp string) (registryEntry, *client, error) {
	e, err := lookupMount(mp)
	if err != nil {
		return e, nil, err
	}
	return e, newClient(e.CacheDir), nil
}

func unmountCmd() *cobra.Command {
	var drain bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount; pending uploads stay in the journal and resume at the next mount",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mp := args[0]
			e, cl, err := running(mp)
			if err == nil {
				q := url.Values{}
				if drain {
					q.Set("drain", "1")
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				var reply struct {
					PendingOps int `json:"pending_ops"`
				}
				err = cl.call(ctx, "POST", "unmount", q, &reply)
				if err == nil {
					waitExit(e.PID, 30*time.Second)
					if reply.PendingOps > 0 {
						fmt.Fprintf(os.Stderr, "unmounted %s; %d ops stay pending in the journal and resume at the next mount\n", e.Mountpoint, reply.PendingOps)
					}
					return nil
				}
				if !errors.Is(err, errNotRunning) {
					return fmt.Errorf("unmount %s: %w", mp, err)
				}
			}
			// No live ferry serves it: a stale mount, or not ours.
			abs, aerr := normMount(mp)
			if aerr != nil {
				return aerr
			}
			if m, _ := isMounted(abs); !m {
				return fmt.Errorf("%s is not mounted", mp)
			}
			if out, ferr := exec.Command("fusermount3", "-u", "-z", abs).CombinedOutput(); ferr != nil {
				if uerr := detach(abs); uerr != nil {
					return fmt.Errorf("unmount %s: %s", mp, strings.TrimSpace(string(out)))
				}
			}
			unregister(abs)
			return nil
		},
	}
	c.Flags().BoolVar(&drain, "drain", false, "wait until every pending change has reached the remote first")
	c.Flags().DurationVar(&timeout, "timeout", 24*time.Hour, "give up waiting after this long")
	return c
}

// waitExit waits for process pid to end.
func waitExit(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flushCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "flush MOUNTPOINT",
		Short: "Wait until every change has reached the remote",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			q := url.Values{}
			ctx := context.Background()
			if timeout > 0 {
				q.Set("timeout", timeout.String())
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout+5*time.Second)
				defer cancel()
			}
			var reply struct {
				Failed []*journal.Op `json:"failed"`
			}
			if err := cl.call(ctx, "POST", "flush", q, &reply); err != nil {
				if errors.Is(err, errNotRunning) {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return fmt.Errorf("flush %s: %w", args[0], err)
			}
			if len(reply.Failed) > 0 {
				printOps(os.Stderr, reply.Failed)
				return flushFailure(reply.Failed)
			}
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait as long as it takes)")
	return c
}

// flushFailure says how many ops failed and how many conflict with the
// remote, pointing to the journal filter that lists each kind: a conflict
// is not in 'ferry journal --state failed'.
func flushFailure(ops []*journal.Op) error {
	conflicts := 0
	for _, op := range ops {
		if op.State == journal.Conflict {
			conflicts++
		}
	}
	failed := len(ops) - conflicts
	switch {
	case conflicts == 0:
		return fmt.Errorf("%d ops failed permanently (see above; 'ferry journal --state failed')", failed)
	case failed == 0:
		return fmt.Errorf("%d ops conflict with changes on the remote, which was not overwritten (see above; 'ferry journal --state conflict')", conflicts)
	}
	return fmt.Errorf("%d ops failed permanently and %d conflict with changes on the remote (see above; 'ferry journal --state failed', 'ferry journal --state conflict')", failed, conflicts)
}

func statusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status MOUNTPOINT",
		Short: "Show pending ops, bytes pending, failures and the last upload",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := running(args[0])
			if err != nil {
				return err
			}
			var st statusReply
			if err := cl.call(context.Background(), "GET", "status", nil, &st); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(st)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "mountpoint:\t%s\n", st.Mountpoint)
			fmt.Fprintf(w, "remote:\t%s\n", st.Remote)
			fmt.Fprintf(w, "cache:\t%s\n", st.CacheDir)
			fmt.Fprintf(w, "pending ops:\t%d (%d running, %d retrying)\n", st.PendingOps, st.Running, st.Retrying)
			fmt.Fprintf(w, "bytes pending:\t%d\n", st.PendingBytes)
			fmt.Fprintf(w, "failed ops:\t%d\n", st.FailedOps)
			last := "never"
			if !st.LastUpload.IsZero() {
				last = st.LastUpload.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "last upload:\t%s\n", last)
			fmt.Fprintf(w, "uploaded:\t%d ops, %d bytes\n", st.UploadedOps, st.UploadedBytes)
			if st.LastError != "" {
				fmt.Fprintf(w, "last error:\t%s\n", st.LastError)
			}
			printSyncStatus(w, st)
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func journalCmd() *cobra.Command {
	var cacheDir, state string
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "journal [MOUNTPOINT | --cache-dir DIR]",
		Short: "List what was recorded and replayed",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch state {
			case "pending", "failed", "conflict", "done", "all":
			default:
				return fmt.Errorf("--state %q: use pending, failed, conflict, done or all", state)
			}
			if limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			if (len(args) == 1) == (cacheDir != "") {
				return errors.New("name either a MOUNTPOINT or --cache-dir DIR")
			}
			if len(args) == 1 {
				e, err := lookupMount(args[0])
				if err != nil {
					return err
				}
				cacheDir = e.CacheDir
			}
			ops, err := readJournal(cacheDir, state, limit)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				for _, op := range ops {
					if err := enc.Encode(op); err != nil {
						return err
					}
				}
				return nil
			}
			printOps(os.Stdout, ops)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cacheDir, "cache-dir", "", "read the journal of this cache dir (mounted or not)")
	f.StringVar(&state, "state", "all", "pending, failed, conflict, done or all")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	f.IntVar(&limit, "limit", 0, "show only the newest N ops (0: all)")
	return c
}

// readJournal asks the running mount of cacheDir, or opens the database
// directly when no mount holds it.
func readJournal(cacheDir, state string, limit int) ([]*journal.Op, error) {
	if _, err := os.Stat(cacheDir); err != nil {
		return nil, fmt.Errorf("cache dir %s: %v", cacheDir, unwrapPathErr(err))
	}
	q := url.Values{"state": {state}, "limit": {strconv.Itoa(limit)}}
	var ops []*journal.Op
	err := newClient(cacheDir).call(context.Background(), "GET", "journal", q, &ops)
	if err == nil {
		return ops, nil
	}
	if !errors.Is(err, errNotRunning) {
		return nil, err
	}
	store, err := cache.Open(cacheDir, nil)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := store.Fold(); err != nil {
		return nil, err
	}
	return journal.List(store, journal.Filter{State: journal.State(state), Limit: limit})
}

func printOps(out *os.File, ops []*journal.Op) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tTIME\tOP\tPATH\tSIZE\tSTATE\tATTEMPTS\tERROR")
	for _, op := range ops {
		p := op.Path
		if op.Path2 != "" {
			p += " -> " + op.Path2
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", op.Seq, op.Time.Format("2006-01-02 15:04:05.000"),
			op.Kind, p, op.Size, op.State, op.Attempts, op.Error)
	}
	w.Flush()
}
