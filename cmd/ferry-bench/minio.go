package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	minioReadyTimeout = 60 * time.Second // MinIO formats its drive on first start
	minioStopTimeout  = 10 * time.Second
	minioRegion       = "us-east-1"
	bucketTimeout     = 5 * time.Minute // to list, fill or empty one bucket
)

// A minioServer is the run's one S3 server: on 127.0.0.1, with its data
// in the scratch directory, so S3 traffic stays on the machine and its
// writes land on the same disk as everything else the bench measures.
type minioServer struct {
	endpoint  string // http://127.0.0.1:PORT
	accessKey string
	secretKey string
	version   string // the first line of minio --version, for the report
	client    *s3.Client

	cmd  *exec.Cmd
	log  string        // the server's stdout and stderr
	done chan struct{} // closed once the process has exited
	lg   *slog.Logger
}

// defaultMinio is where `make tools` builds MinIO: $FERRY_TOOLS_BIN (which
// the Makefile exports), else .tools/bin under the working directory.
func defaultMinio() string {
	if dir := os.Getenv("FERRY_TOOLS_BIN"); dir != "" {
		return filepath.Join(dir, "minio")
	}
	return filepath.Join(".tools", "bin", "minio")
}

// startMinio runs bin with its data under dir and waits until it serves
// requests. A port found free can be taken before MinIO binds it, so it
// tries a few. On failure nothing is left running.
func startMinio(ctx context.Context, lg *slog.Logger, bin, dir string) (*minioServer, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("no minio at %s: run make tools, or pass -minio", bin)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	m := &minioServer{
		accessKey: "bench" + randomHex(6),
		secretKey: randomHex(20),
		version:   minioVersion(ctx, bin),
		log:       filepath.Join(dir, "minio.log"),
		lg:        lg,
	}
	for try := range 3 {
		addr, aerr := freeAddr()
		if aerr != nil {
			return nil, aerr
		}
		m.endpoint = "http://" + addr
		if err = m.start(ctx, bin, addr, data); err == nil || ctx.Err() != nil {
			break
		}
		lg.Warn("minio did not start", "try", try+1, "err", err)
	}
	if err != nil {
		return nil, err
	}
	m.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(m.endpoint),
		Region:       minioRegion,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.accessKey, m.secretKey, ""),
	})
	return m, nil
}

func (m *minioServer) start(ctx context.Context, bin, addr, data string) error {
	logFile, err := os.Create(m.log)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, data)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"MINIO_ROOT_USER="+m.accessKey,
		"MINIO_ROOT_PASSWORD="+m.secretKey,
		"MINIO_BROWSER=off", // no console on a second port
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	detach(cmd) // a Ctrl-C reaches the bench, which stops MinIO after the mounts
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start minio: %w", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(m.done)
	}()
	if err := m.waitReady(ctx); err != nil {
		m.stop()
		return err
	}
	return nil
}

// waitReady polls MinIO's readiness endpoint until it answers 200.
func (m *minioServer) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(minioReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(m.endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.done:
			return fmt.Errorf("minio exited before it was ready: %s", lastLogLine(m.log))
		case <-deadline.C:
			return fmt.Errorf("minio not ready after %s: %s", minioReadyTimeout, lastLogLine(m.log))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL. Its data goes with the
// scratch directory.
func (m *minioServer) stop() {
	if m.cmd == nil {
		return
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		select {
		case <-m.done:
			return
		default:
			_ = m.cmd.Process.Signal(sig) // it may exit between the check and the signal
		}
		select {
		case <-m.done:
			return
		case <-time.After(minioStopTimeout):
		}
	}
	m.lg.Error("minio did not exit", "pid", m.cmd.Process.Pid)
}

// createBucket makes a fresh, empty bucket.
func (m *minioServer) createBucket(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, bucketTimeout)
	defer cancel()
	if _, err := m.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// bucketStats counts what a bucket holds the way rclone size does: see
// objectStats.
func (m *minioServer) bucketStats(ctx context.Context, bucket string) (treeStats, error) {
	ctx, cancel := context.WithTimeout(ctx, bucketTimeout)
	defer cancel()
	var s treeStats
	p := s3.NewListObjectsV2Paginator(m.client, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s, fmt.Errorf("list bucket %s: %w", bucket, err)
		}
		for _, o := range page.Contents {
			s = s.addObject(aws.ToString(o.Key), aws.ToInt64(o.Size))
		}
	}
	return s, nil
}

// addObject counts one object of a listing as rclone would see it: a
// directory marker ("dir/", which ferry writes for every directory) is
// not a file, nor is what ferry keeps under .ferry/ for itself.
func (s treeStats) addObject(key string, size int64) treeStats {
	if strings.HasSuffix(key, "/") || key == ".ferry" || strings.HasPrefix(key, ".ferry/") {
		return s
	}
	s.files++
	s.bytes += size
	return s
}

// removeBucket deletes a bucket and everything in it, so that a run's
// buckets do not pile up on the scratch disk. It runs on cleanup, after
// an interrupt too, and so has a context of its own.
func (m *minioServer) removeBucket(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	// Deleting while listing would move the listing's continuation point:
	// list from the start until nothing is left.
	for {
		page, err := m.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
		if err != nil {
			return fmt.Errorf("list bucket %s: %w", bucket, err)
		}
		if len(page.Contents) == 0 {
			break
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		res, err := m.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("empty bucket %s: %w", bucket, err)
		}
		if len(res.Errors) > 0 {
			e := res.Errors[0]
			return fmt.Errorf("empty bucket %s: %s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	// Incomplete multipart uploads would keep the bucket from going.
	ups, err := m.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		return fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	for _, u := range ups.Uploads {
		if _, err := m.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: &bucket, Key: u.Key, UploadId: u.UploadId,
		}); err != nil {
			return fmt.Errorf("abort upload of %s: %w", aws.ToString(u.Key), err)
		}
	}
	if _, err := m.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	return nil
}

// rcloneEnvS3 is rclone's environment for the S3 contenders: remote m: is
// this MinIO, defined only through the environment and an empty config
// file, so that nothing in the user's rclone.conf leaks in.
func (m *minioServer) rcloneEnvS3(confFile string) []string {
	return m.rcloneEnvS3Via(confFile, m.endpoint)
}

// rcloneEnvS3Via is rcloneEnvS3 with remote m: reaching this MinIO through
// endpoint, a proxy in front of it.
func (m *minioServer) rcloneEnvS3Via(confFile, endpoint string) []string {
	var env []string
	for _, kv := range rcloneEnv() {
		if !strings.HasPrefix(kv, "RCLONE_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"RCLONE_CONFIG="+confFile,
		"RCLONE_CONFIG_M_TYPE=s3",
		"RCLONE_CONFIG_M_PROVIDER=Minio",
		"RCLONE_CONFIG_M_ENDPOINT="+endpoint,
		"RCLONE_CONFIG_M_REGION="+minioRegion,
		"RCLONE_CONFIG_M_ACCESS_KEY_ID="+m.accessKey,
		"RCLONE_CONFIG_M_SECRET_ACCESS_KEY="+m.secretKey,
	)
}

// ferryEnvS3 is ferry's environment for an S3 mount: this MinIO's
// credentials, and no other AWS setting (a profile, an endpoint) that
// could send it elsewhere. AWS_CA_BUNDLE stays: ferry copes with it.
func (m *minioServer) ferryEnvS3() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+m.accessKey,
		"AWS_SECRET_ACCESS_KEY="+m.secretKey,
		"AWS_REGION="+minioRegion,
	)
}

// freeAddr returns a 127.0.0.1 address nothing listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// lastLogLine is the last non-empty line of a log file, for an error cell.
func lastLogLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	data = bytes.TrimSpace(data)
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[i+1:]
	}
	if len(data) == 0 {
		return "no output"
	}
	return string(data)
}

// minioVersion names the build: `make tools` builds MinIO with go install,
// so the module version is in the binary and `minio --version` says only
// DEVELOPMENT.
func minioVersion(ctx context.Context, bin string) string {
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Path + " " + info.Main.Version
	}
	return commandLine(ctx, nil, bin, "--version")
}
