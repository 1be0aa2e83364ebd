// Command ferry-bench measures a plain directory, a ferry mount and an
// rclone mount side by side on the same disk, prints a markdown table
// with ferry's ratio to plain and its targets, and writes docs/BENCH.md.
// A second table puts ferry's mount of an S3 bucket beside rclone copy
// and rclone mount of the same local MinIO, and a third measures two-way
// sync there: how fast a change on one mount shows on another, and what
// mounting and idly polling a large bucket costs.
//
// Every contender gets fresh directories (and a fresh mount) for every
// workload. Every step has a timeout and every mount is unmounted on the
// way out, so a broken contender costs an error cell, not a hung run.
//
//	go run ./cmd/ferry-bench -only plain,rclone -size 256MiB -count 1 -out ''
//	go run ./cmd/ferry-bench -workloads untar,s3 -tree src/net -size 128MiB -count 1 -out ''
package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// bench is one run's settings and shared inputs.
type bench struct {
	lg       *slog.Logger
	ferryBin string
	scratch  string // every contender's directories live here, on one filesystem
	seqSize  int64

	tree     string    // what of GOROOT the tarball holds
	tarball  string    // the Go source tree, for the untar workloads
	tarStats treeStats // what the tarball holds

	minio      *minioServer // the S3 workloads' server; nil when none runs
	transfers  int          // parallel uploads of ferry, rclone copy and rclone mount on S3
	rcloneConf string       // an empty rclone.conf, so the user's does not leak in
	buckets    int          // buckets made so far, to name the next

	syncObjects int    // objects in the large bucket of the two-way sync workload
	syncBucket  string // that bucket, filled once per run
	syncFilled  bool   // whether filling it was tried
	syncFillErr error

	coldReadFailed bool // the page cache could not be dropped before a read
	warnedCaches   bool
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ferryBin := flag.String("ferry", "bin/ferry", "the ferry binary")
	only := flag.String("only", strings.Join(contenderNames, ","), "contenders to run, comma-separated")
	wls := flag.String("workloads", "untar,files,seq,s3", "workloads to run, comma-separated: untar, files, seq, s3-untar, s3-seq, s3-sync; s3 stands for all three S3 ones")
	sizeFlag := flag.String("size", "1GiB", "size of the sequential read/write file and of the S3 upload")
	tree := flag.String("tree", "src", "what of GOROOT to pack for the untar workloads; a subdirectory such as src/net makes a quick run")
	transfers := flag.Int("transfers", 8, "parallel uploads on S3: ferry's --transfers, and rclone's for copy and mount")
	minioBin := flag.String("minio", defaultMinio(), "the MinIO binary for the S3 workloads (make tools builds it)")
	out := flag.String("out", "docs/BENCH.md", "markdown report to write; empty writes none")
	count := flag.Int("count", 3, "run each workload this many times per contender; cells show the median")
	scratchParent := flag.String("scratch", "", "where to make the scratch directory (default: the system temp dir)")
	syncObjects := flag.Int("sync-objects", 100000, "objects in the large bucket of the s3-sync workload; 10000 makes a quick run")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	contenders, err := pickList("-only", *only, contenderNames)
	if err != nil {
		return err
	}
	var wlNames []string
	for _, w := range workloads {
		wlNames = append(wlNames, w.name)
	}
	selected, err := pickList("-workloads", expandGroups(*wls, workloadGroups), wlNames)
	if err != nil {
		return err
	}
	seqSize, err := parseSize(*sizeFlag)
	if err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("-count %d: want at least 1", *count)
	}
	if *transfers < 1 {
		return fmt.Errorf("-transfers %d: want at least 1", *transfers)
	}
	if *syncObjects < 1 || *syncObjects > 1000*syncFilesPerDir {
		return fmt.Errorf("-sync-objects %d: want 1 to %d", *syncObjects, 1000*syncFilesPerDir)
	}
	if !filepath.IsLocal(*tree) {
		return fmt.Errorf("-tree %q: want a directory inside GOROOT, such as src or src/net", *tree)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first Ctrl-C cleans up in order; a second one kills the bench
		// (the mount daemons then get SIGTERM from the kernel, see detach).
		<-ctx.Done()
		stop()
	}()
	lg := slog.New(slog.NewTextHandler(os.Stderr, nil))

	b := &bench{lg: lg, seqSize: seqSize, tree: filepath.Clean(*tree), transfers: *transfers, syncObjects: *syncObjects}
	if b.ferryBin, err = filepath.Abs(*ferryBin); err != nil {
		return err
	}
	if slices.Contains(contenders, ferry) {
		if _, err := os.Stat(b.ferryBin); err != nil {
			lg.Warn("no ferry binary; its cells will be errors (run make build)", "err", err)
		}
	}

	if b.scratch, err = makeScratch(lg, *scratchParent); err != nil {
		return err
	}
	defer func() {
		if err := removeAllSafely(b.scratch); err != nil {
			lg.Error("scratch directory left behind", "err", err)
		}
	}()
	lg.Info("scratch directory", "dir", b.scratch)

	// The run measures the ferry binary and commit of its start: a copy,
	// so that a rebuild of bin/ferry during a long run (by make build, by
	// someone else) does not swap binaries between turns.
	ferryRev := gitRevision(ctx)
	if slices.Contains(contenders, ferry) {
		if bin, err := copyBinary(b.ferryBin, filepath.Join(b.scratch, "ferry")); err != nil {
			lg.Warn("ferry binary not copied; a rebuild during the run would change what is measured", "err", err)
		} else {
			b.ferryBin = bin
		}
	}

	s3Names := s3Contenders(contenders)
	if len(s3Names) == 0 && slices.ContainsFunc(workloads, func(w workload) bool { return w.s3 && slices.Contains(selected, w.name) }) {
		lg.Warn("the S3 workloads need ferry or rclone in -only; skipping them")
	}
	// names lists the contenders that run w.
	names := func(w workload) []string {
		if w.s3 {
			return w.contenders(s3Names)
		}
		return w.contenders(contenders)
	}
	// runs reports whether w is selected and has a contender to run.
	runs := func(w workload) bool {
		return slices.Contains(selected, w.name) && len(names(w)) > 0
	}

	var tarErr error
	if slices.ContainsFunc(workloads, func(w workload) bool { return w.tarball && runs(w) }) {
		tarErr = b.makeTarball(ctx)
	}

	defer func() {
		if b.minio != nil {
			b.minio.stop() // before the scratch directory with its data goes
		}
	}()
	var s3Err error
	s3Started := false

	// Contenders take turns within each repetition, so that a slow phase of
	// the machine hits them all rather than one, and who goes first rotates.
	samples := map[measureID]map[string][]cell{}
	for _, w := range workloads {
		if !runs(w) {
			continue
		}
		if w.s3 && !s3Started {
			s3Started = true
			if s3Err = b.startS3(ctx, *minioBin); s3Err != nil {
				lg.Error("no S3 server: the S3 cells will be errors", "err", s3Err)
			}
		}
		names := names(w)
		for rep := range *count {
			for i := range names {
				c := names[(i+rep)%len(names)]
				if ctx.Err() != nil {
					break
				}
				var cells map[measureID]cell
				switch {
				case w.tarball && tarErr != nil:
					cells = failAll(w.measures, tarErr)
				case w.s3 && s3Err != nil:
					cells = failAll(w.measures, s3Err)
				default:
					cells = b.runOne(ctx, w, c)
				}
				for id, cl := range cells {
					if samples[id] == nil {
						samples[id] = map[string][]cell{}
					}
					samples[id][c] = append(samples[id][c], cl)
				}
			}
		}
	}
	res := results{}
	for id, byContender := range samples {
		for c, cells := range byContender {
			res.set(id, c, combine(cells))
		}
	}

	// Each table is there when one of its workloads was selected.
	var table, s3Table, syncTable string
	if slices.ContainsFunc(workloads, func(w workload) bool { return !w.s3 && runs(w) }) {
		table = renderTable(measures(seqSize), res)
		fmt.Print(table)
	}
	if slices.ContainsFunc(workloads, func(w workload) bool { return w.s3 && !w.ownMounts && runs(w) }) {
		s3Table = renderS3Table(s3Measures(seqSize), res)
		if table != "" {
			fmt.Println()
		}
		fmt.Print("S3 (MinIO on 127.0.0.1)\n\n", s3Table)
	}
	if slices.ContainsFunc(workloads, func(w workload) bool { return w.name == "s3-sync" && runs(w) }) {
		syncTable = renderSyncTable(syncMeasures(b.syncObjects), res)
		if table != "" || s3Table != "" {
			fmt.Println()
		}
		fmt.Print("Two-way sync (MinIO on 127.0.0.1)\n\n", syncTable)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: the table above is partial; no report written")
	}
	if *out == "" {
		return nil
	}
	m := describeMachine(ctx, b.scratch, ferryRev)
	rep := report{
		machine:     m,
		table:       table,
		contenders:  contenders,
		workloads:   selected,
		seqSize:     seqSize,
		count:       *count,
		coldRead:    !b.coldReadFailed,
		tree:        b.tree,
		tarStats:    b.tarStats,
		s3Table:     s3Table,
		transfers:   b.transfers,
		syncTable:   syncTable,
		syncObjects: b.syncObjects,
	}
	if b.minio != nil {
		rep.minio = b.minio.version
	}
	if err := writeFileAtomic(*out, []byte(rep.markdown())); err != nil {
		return err
	}
	lg.Info("report written", "file", *out)
	return nil
}

// startS3 starts the run's MinIO and writes the empty rclone.conf that
// the rclone contenders use.
func (b *bench) startS3(ctx context.Context, minioBin string) error {
	b.rcloneConf = filepath.Join(b.scratch, "rclone.conf")
	if err := os.WriteFile(b.rcloneConf, nil, 0o600); err != nil {
		return err
	}
	dir := filepath.Join(b.scratch, "minio")
	m, err := startMinio(ctx, b.lg, minioBin, dir)
	if err != nil {
		return err
	}
	b.minio = m
	b.lg.Info("minio ready", "endpoint", m.endpoint, "data", dir)
	return nil
}

// expandGroups replaces the group names in a comma-separated list by
// their members.
func expandGroups(value string, groups map[string][]string) string {
	var out []string
	for _, s := range strings.Split(value, ",") {
		if members, ok := groups[strings.TrimSpace(s)]; ok {
			out = append(out, members...)
		} else {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

// pickList splits a comma-separated flag and checks every name is known.
// The result keeps the order of known, not of the flag.
func pickList(flagName, value string, known []string) ([]string, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("%s: unknown %q (want some of %s)", flagName, s, strings.Join(known, ","))
		}
		want[s] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: nothing selected", flagName)
	}
	return out, nil
}

func failAll(ids []measureID, err error) map[measureID]cell {
	out := map[measureID]cell{}
	for _, id := range ids {
		out[id] = failed(err)
	}
	return out
}

// makeScratch creates the run's scratch directory and resolves symlinks,
// so that its path matches what /proc/self/mountinfo shows.
func makeScratch(lg *slog.Logger, parent string) (string, error) {
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", err
		}
	}
	dir, err := os.MkdirTemp(parent, "ferry-bench-")
	if err != nil {
		return "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	if err := spreadSubdirs(dir); err != nil {
		lg.Debug("scratch subdirectories share block groups", "err", err)
	}
	return filepath.EvalSymlinks(dir)
}

// runOne opens a fresh instance of contender name, runs w on it and closes
// it again, whatever happened in between.
func (b *bench) runOne(ctx context.Context, w workload, name string) map[measureID]cell {
	lg := b.lg.With("workload", w.name, "contender", name)
	b.settle()
	lg.Info("starting")
	root := filepath.Join(b.scratch, w.name+"-"+name)
	var in *instance
	var err error
	switch {
	case w.ownMounts && b.minio == nil:
		err = errors.New("no MinIO")
	case w.ownMounts:
		in = &instance{name: name, root: root, ferry: b.ferryBin, minio: b.minio}
		err = os.MkdirAll(root, 0o755)
	case w.s3:
		b.buckets++
		in, err = b.openS3(ctx, name, root, fmt.Sprintf("%s-%s-%d", w.name, name, b.buckets))
	default:
		in, err = b.open(ctx, name, root)
	}
	if err != nil {
		lg.Error("setup failed", "err", err)
		if err := removeAllSafely(root); err != nil {
			lg.Error("cleanup failed", "err", err)
		}
		return failAll(w.measures, err)
	}
	defer func() {
		if err := in.close(); err != nil {
			lg.Error("cleanup failed", "err", err)
		}
	}()
	start := time.Now()
	cells := w.run(b, ctx, in)
	var got []string
	for _, id := range w.measures {
		if c, ok := cells[id]; ok {
			got = append(got, c.String())
		}
	}
	lg.Info("finished", "took", time.Since(start).Round(time.Millisecond), "cells", strings.Join(got, " / "))
	return cells
}

// settle writes back and drops the page cache before each contender's
// turn, so that the previous turn's dirty pages are not written back on
// this one's time, and every contender starts equally cold.
func (b *bench) settle() {
	if err := dropCaches(); err != nil {
		b.coldReadFailed = true
		if !b.warnedCaches {
			b.warnedCaches = true
			b.lg.Warn("cannot drop the page cache (not root?): contenders may slow each other down and reads may be served from memory", "err", err)
		}
	}
	time.Sleep(time.Second)
}

// makeTarball packs $GOROOT/<tree> (src unless -tree says otherwise) once
// and counts what it holds, which is what rclone's remote, and every
// bucket, must reach before an upload counts as done.
func (b *bench) makeTarball(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	b.tarball = filepath.Join(b.scratch, "gosrc.tar")
	cmd := exec.CommandContext(ctx, "tar", "-C", strings.TrimSpace(string(goroot)), "-cf", b.tarball, b.tree)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tar -cf: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if b.tarStats, err = countTar(b.tarball); err != nil {
		return err
	}
	b.lg.Info("tarball ready", "file", b.tarball, "holds", b.tarStats)
	return nil
}

// countTar counts the regular files in a tar archive and their bytes.
func countTar(path string) (treeStats, error) {
	var s treeStats
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("read %s: %w", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			s.files++
			s.bytes += h.Size
		}
	}
}

// copyBinary copies the executable src to dst and returns dst.
func copyBinary(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so a crash never leaves half a report.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
