// Command ferry mounts a cloud folder at local-disk speed: every change
// lands in a local cache and a crash-safe journal, and an uploader replays
// the journal to the remote.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "ferry",
		Short:         "Mount a cloud folder at local-disk speed",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(mountCmd(), unmountCmd(), flushCmd(), statusCmd(), journalCmd(), syncCmd(), conflictsCmd(), trashCmd(), pinCmd(true), pinCmd(false))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%s (see '%s --help')", err, c.CommandPath())
	})
	if err := root.Execute(); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintln(os.Stderr, "ferry: "+msg)
		os.Exit(exitCode(err))
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func init() {
	// FERRY_CPUPROFILE=file writes a CPU profile of the whole run (for make bench and debugging).
	if p := os.Getenv("FERRY_CPUPROFILE"); p != "" {
		startProfile(p)
	}
}
