package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
	"github.com/ferry-fs/ferry/remote/s3"
	"github.com/spf13/cobra"
)

// s3Options are the mount flags for S3-compatible remotes. Credentials and
// the region otherwise come from the AWS conventions (environment,
// AWS_PROFILE with ~/.aws, SSO, web identity, instance roles).
type s3Options struct {
	endpoint, region, storageClass, sse string
	pathStyle                           bool
	uploadCutoff                        int64
}

func (o *s3Options) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&o.endpoint, "s3-endpoint", "", "S3 endpoint URL, for S3-compatible services (default: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
	f.StringVar(&o.region, "s3-region", "", "S3 region (default: AWS_REGION or the profile's)")
	f.BoolVar(&o.pathStyle, "s3-path-style", true, "path-style bucket addressing; used when a custom endpoint is set, virtual-hosted style on AWS unless set explicitly")
	f.StringVar(&o.storageClass, "s3-storage-class", "", "storage class of uploaded objects (e.g. STANDARD_IA)")
	f.StringVar(&o.sse, "s3-sse", "", "server-side encryption: AES256 or aws:kms")
	f.Int64Var(&o.uploadCutoff, "s3-upload-cutoff", 16<<20, "upload files larger than this in parts, resumably")
}

// target is an opened remote and what the mount needs to know about it.
type target struct {
	rem       remote.Remote
	name      string // the folder path or the s3:// URL, for messages and mount(8)
	localRoot string // the folder, for a local remote
	offline   error  // the endpoint did not answer at mount time
	maxPath   int    // longest path the remote stores
	dirOver   int    // bytes the remote adds to a directory's path
	linkOver  int    // bytes the remote adds to a symlink's path
}

// openRemote opens REMOTE: a folder path, a file:// URL or an s3:// URL.
func openRemote(ctx context.Context, spec string, o s3Options, pathStyleSet bool, log *slog.Logger) (*target, error) {
	if !strings.HasPrefix(spec, "s3://") {
		root, err := localRemotePath(spec)
		if err != nil {
			return nil, err
		}
		rem, err := local.New(root)
		if err != nil {
			return nil, err
		}
		return &target{rem: rem, name: root, localRoot: root, maxPath: 4095 - len(root) - 1}, nil
	}
	bucket, prefix, err := s3.ParseURL(spec)
	if err != nil {
		return nil, err
	}
	if o.uploadCutoff < 5<<20 {
		return nil, fmt.Errorf("--s3-upload-cutoff must be at least 5 MiB (S3's smallest part)")
	}
	cfg := s3.Config{Bucket: bucket, Prefix: prefix, Endpoint: o.endpoint, Region: o.region,
		StorageClass: o.storageClass, SSE: o.sse, UploadCutoff: o.uploadCutoff, Logger: log}
	if pathStyleSet {
		cfg.PathStyle = &o.pathStyle
	}
	rem, err := s3.New(ctx, cfg)
	t := &target{rem: rem, name: "s3://" + bucket + "/" + prefix, maxPath: 1024 - len(prefix),
		dirOver: 1, linkOver: len(".rclonelink")}
	t.name = strings.TrimSuffix(t.name, "/")
	if errors.Is(err, s3.ErrUnreachable) {
		t.offline = err
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}
