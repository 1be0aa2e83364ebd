package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// checkBucket asks for the bucket with HeadBucket, within checkTimeout, and
// turns a failure into one line a user can act on. When the server says
// the bucket lives in another region, it returns that region with the
// error, for New to try again there.
// ErrUnreachable marks a failed bucket check that says nothing about the
// bucket: the endpoint did not answer. New returns a usable Remote with it,
// for a mount that can start offline from its cache.
var ErrUnreachable = errors.New("endpoint unreachable")

// unreachable is an error that is ErrUnreachable but reads as its cause.
type unreachable struct{ error }

func (unreachable) Is(target error) bool { return target == ErrUnreachable }

func (r *Remote) checkBucket(ctx context.Context, awsCfg aws.Config) (string, error) {
	where := endpointName(r.cfg, awsCfg)
	cctx, cancel := context.WithTimeout(ctx, r.cfg.checkTimeout)
	defer cancel()
	if awsCfg.Credentials == nil {
		return "", fmt.Errorf("s3: no AWS credentials configured for bucket %q", r.bucket)
	}
	if _, err := awsCfg.Credentials.Retrieve(cctx); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("s3: no usable AWS credentials for bucket %q: %s", r.bucket, describe(err))
	}
	_, err := r.client.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: &r.bucket})
	if err == nil {
		return "", nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	status := httpStatus(err)
	switch {
	case status == 301:
		region := responseHeader(err, "X-Amz-Bucket-Region")
		return region, fmt.Errorf("s3: bucket %q is not in region %s but in %q", r.bucket, awsCfg.Region, region)
	case status == 404:
		return "", fmt.Errorf("s3: bucket %q does not exist at %s", r.bucket, where)
	case status == 400 || status == 403:
		// An answer to HEAD has no body, hence no error code: ask again
		// with a request whose answer has one.
		_, lerr := r.client.ListObjectsV2(cctx, &s3.ListObjectsV2Input{
			Bucket: &r.bucket, Prefix: &r.prefix, MaxKeys: aws.Int32(1), EncodingType: types.EncodingTypeUrl})
		if lerr == nil {
			return "", nil // listing, which is what ferry needs, is allowed
		}
		return "", fmt.Errorf("s3: access to bucket %q at %s denied (%s): check the credentials and the bucket policy",
			r.bucket, where, describe(lerr))
	case errors.Is(err, context.DeadlineExceeded):
		return "", unreachable{fmt.Errorf("s3: no answer from %s within %v (bucket %q)", where, r.cfg.checkTimeout, r.bucket)}
	case status == 0 || status >= 500:
		return "", unreachable{fmt.Errorf("s3: cannot reach %s (bucket %q): %s", where, r.bucket, describe(err))}
	}
	return "", fmt.Errorf("s3: bucket %q at %s: %s", r.bucket, where, describe(err))
}

// endpointName names the server for messages, without any credentials an
// endpoint URL may carry.
func endpointName(cfg Config, awsCfg aws.Config) string {
	switch {
	case cfg.Endpoint != "":
		return redact(cfg.Endpoint)
	case os.Getenv("AWS_ENDPOINT_URL_S3") != "":
		return redact(os.Getenv("AWS_ENDPOINT_URL_S3"))
	case awsCfg.BaseEndpoint != nil:
		return redact(*awsCfg.BaseEndpoint)
	}
	return "AWS S3 (region " + awsCfg.Region + ")"
}

// redact drops the user information and query of a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "(unparsable URL)" // it may hold a password
		}
		return s
	}
	u.User = nil
	u.RawQuery = ""
	return strings.TrimSuffix(u.String(), "/")
}
