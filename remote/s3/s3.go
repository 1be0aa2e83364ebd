// Package s3 implements remote.Remote on an S3 bucket (AWS, MinIO, or any
// S3-compatible service), laid out the way rclone lays out a synced folder so
// that both tools read each other's files:
//
//   - The file at path p is the object prefix+p, one object per file.
//   - Directories are implicit key prefixes. An empty directory is kept by a
//     zero-byte "dir/" marker object, which Mkdir writes and Rmdir removes.
//   - A symlink at p is the object p+".rclonelink" holding the link target,
//     rclone's --links convention. Names ending in ".rclonelink" are
//     therefore reserved, like the top-level name ".ferry": ferry's private
//     area (remote.Area), where the change log lives and conditional
//     deletes keep what they removed (".ferry/trash/<date>/<path>").
//   - The modification time, mode, owner and content hash are user metadata:
//     x-amz-meta-mtime, -mode, -uid and -gid in rclone's formats (see
//     meta.go) and x-amz-meta-blake3.
//
// Entry.Version is the object's ETag, and conditional writes are S3's own
// If-Match / If-None-Match, so a Cond is checked by the server atomically
// with the write. The backend translates the API and nothing more: retries
// beyond the SDK's own few, rate limits and logging of calls are wrappers.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
)

var (
	_ remote.Remote        = (*Remote)(nil)
	_ remote.Resumable     = (*Remote)(nil)
	_ remote.Conditional   = (*Remote)(nil)
	_ remote.UploadCleaner = (*Remote)(nil)
	_ remote.Counter       = (*Remote)(nil)
	_ remote.Area          = (*Remote)(nil)
	_ remote.Walker        = (*Remote)(nil)
	_ remote.Skipper       = (*Remote)(nil)
)

// Sizes S3 imposes, and the defaults of Config.
const (
	MiB = 1 << 20
	GiB = 1 << 30

	minPartSize  = 5 * MiB // every part but the last
	maxParts     = 10000
	maxPutSize   = 5 * GiB // largest single PutObject or CopyObject
	maxObject    = 5 << 40 // largest object: 5 TiB
	maxCopyPart  = 1 * GiB // part size of a multipart copy
	maxKeyLen    = 1024
	checkTimeout = 10 * time.Second
	// tombstoneLife: a delete's tombstone this old was left by a delete
	// that stopped (see takeOver). A delete takes a second or two.
	tombstoneLife = time.Minute

	DefaultPartSize     = 8 * MiB
	DefaultUploadCutoff = 16 * MiB
	DefaultConcurrency  = 4
	DefaultCopyCutoff   = maxPutSize
	listConcurrency     = 16 // HEAD requests in flight while listing
)

// Config says which bucket to use and how. Credentials, region and endpoint
// come from the usual AWS sources (environment, AWS_PROFILE and the ~/.aws
// files, SSO, web identity, instance roles, AWS_ENDPOINT_URL[_S3]) unless set
// here.
type Config struct {
	Bucket string
	Prefix string // key prefix of the remote root, e.g. "photos/"; "" for the whole bucket
	// Endpoint overrides the service URL, e.g. "http://127.0.0.1:9000".
	Endpoint string
	// Region overrides AWS_REGION and the profile's region; us-east-1 when
	// none is configured anywhere.
	Region string
	// PathStyle addresses the bucket in the URL path rather than the host
	// name. Default: on when an endpoint is configured (S3-compatible
	// servers), off for AWS.
	PathStyle *bool
	// AccessKeyID and SecretAccessKey, when set, replace the default
	// credential chain. They are never logged nor put in errors.
	AccessKeyID, SecretAccessKey, SessionToken string

	StorageClass string // e.g. "STANDARD_IA"; "" for the bucket's default
	SSE          string // server-side encryption: "AES256" or "aws:kms"; "" for none

	PartSize     int64 // multipart part size, at least 5 MiB (default 8 MiB)
	UploadCutoff int64 // files this large or larger go in parts (default 16 MiB)
	Concurrency  int   // parts uploaded at once per file (default 4)
	// CopyCutoff: objects larger than this are copied with UploadPartCopy
	// (default and maximum 5 GiB, S3's CopyObject limit).
	CopyCutoff int64

	// Logger receives warnings about keys List skips. Default: discard.
	Logger *slog.Logger

	checkTimeout time.Duration // New's bound on the bucket check; tests shorten it
	// tombstoneLife: how old a delete's tombstone must be for a write to
	// take its place (see takeOver); tests shorten it.
	tombstoneLife time.Duration
}

// Remote is a remote.Remote stored in an S3 bucket. It is safe for
// concurrent use.
type Remote struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends in "/"
	cfg    Config // with defaults filled in
	log    *slog.Logger

	mu      sync.Mutex           // guards skipped, made and tombs
	skipped map[string]struct{}  // keys List skipped, without the bucket
	made    recentDirs           // directories Mkdir made lately
	tombs   map[string]time.Time // tombstones put and not deleted yet: ETag -> when
	device  string               // who this Remote's tombstones say deletes (SetDevice)

	count *requestCounter
}

// New connects to the bucket and checks that it exists and is accessible,
// within a bounded time. Its errors are one line naming the cause: a missing
// bucket, refused credentials, an endpoint that cannot be reached. For the
// last (ErrUnreachable) it also returns the Remote, usable once the
// endpoint answers.
func New(ctx context.Context, cfg Config) (*Remote, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %s", oneLine(err.Error()))
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	r := &Remote{
		bucket:  cfg.Bucket,
		prefix:  cfg.Prefix,
		cfg:     cfg,
		log:     cfg.Logger,
		skipped: map[string]struct{}{}, tombs: map[string]time.Time{},
		count: &requestCounter{n: map[string]uint64{}},
	}
	r.client = newClient(awsCfg, cfg, r.count)
	region, err := r.checkBucket(ctx, awsCfg)
	if region != "" && region != awsCfg.Region {
		// AWS answers 301 with the bucket's region when asked in another.
		awsCfg.Region = region
		r.client = newClient(awsCfg, cfg, r.count)
		_, err = r.checkBucket(ctx, awsCfg)
	}
	if errors.Is(err, ErrUnreachable) {
		return r, err
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// newClient makes the S3 client. Checksums are left to Content-MD5, which
// every S3-compatible server checks; the SDK's newer default trailers are
// not understood everywhere.
func newClient(awsCfg aws.Config, cfg Config, count *requestCounter) *s3.Client {
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = pathStyle(cfg, awsCfg)
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.APIOptions = append(o.APIOptions, count.add)
	})
}

// pathStyle applies the PathStyle default: on when any endpoint override is
// configured, in Config or in the AWS configuration.
func pathStyle(cfg Config, awsCfg aws.Config) bool {
	if cfg.PathStyle != nil {
		return *cfg.PathStyle
	}
	return cfg.Endpoint != "" || awsCfg.BaseEndpoint != nil ||
		os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// fill checks cfg and fills in the defaults.
func (cfg *Config) fill() error {
	if err := checkBucketName(cfg.Bucket); err != nil {
		return err
	}
	p, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return err
	}
	cfg.Prefix = p
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q is not an http:// or https:// URL", redact(cfg.Endpoint))
		}
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return errors.New("set both the access key id and the secret access key, or neither")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPutSize {
		return fmt.Errorf("part size %d is outside S3's limits (5 MiB to 5 GiB)", cfg.PartSize)
	}
	if cfg.UploadCutoff == 0 {
		cfg.UploadCutoff = DefaultUploadCutoff
	}
	if cfg.UploadCutoff < 0 || cfg.UploadCutoff > maxPutSize {
		return fmt.Errorf("upload cutoff %d is outside 0 to 5 GiB", cfg.UploadCutoff)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.CopyCutoff == 0 {
		cfg.CopyCutoff = DefaultCopyCutoff
	}
	if cfg.CopyCutoff < minPartSize || cfg.CopyCutoff > maxPutSize {
		return fmt.Errorf("copy cutoff %d is outside 5 MiB to 5 GiB", cfg.CopyCutoff)
	}
	if cfg.checkTimeout == 0 {
		cfg.checkTimeout = checkTimeout
	}
	if cfg.tombstoneLife == 0 {
		cfg.tombstoneLife = tombstoneLife
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Bucket returns the bucket name.
func (r *Remote) Bucket() string { return r.bucket }

// Prefix returns the key prefix of the remote root: "" or ending in "/".
func (r *Remote) Prefix() string { return r.prefix }

// String names the remote as an s3:// URL.
func (r *Remote) String() string { return "s3://" + r.bucket + "/" + r.prefix }

// start validates p and checks ctx, the preamble of every method.
func (r *Remote) start(ctx context.Context, op, p string, allowRoot bool) error {
	if err := checkPath(p, allowRoot); err != nil {
		return &opError{op: op, key: r.prefix + p, class: remote.ErrPermanent, err: err}
	}
	if n := len(r.prefix) + len(p); n > maxKeyLen {
		return &opError{op: op, key: r.prefix + p, class: remote.ErrPermanent,
			err: fmt.Errorf("key of %d bytes is longer than S3's %d", n, maxKeyLen)}
	}
	return ctx.Err()
}
