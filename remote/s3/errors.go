package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ferry-fs/ferry/remote"
)

// opError is the error every method returns for a failed S3 call: one line
// naming the operation, the object key and the server's code and message.
// It unwraps to its class (remote.ErrNotFound, remote.ErrPrecondition,
// remote.ErrPermanent, or none for a transient failure) and to the cause.
type opError struct {
	op, key string
	class   error // nil: transient
	err     error
}

func (e *opError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.op, e.key, describe(e.err))
}

func (e *opError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// fail wraps err from operation op on key in an opError with its class. This
// is the one place S3 errors are classified. A cancelled or expired ctx
// yields ctx.Err() itself, as the remote.Remote contract asks; errors
// already classified pass through.
func fail(ctx context.Context, op, key string, err error) error {
	var oe *opError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &oe):
		return err
	}
	return &opError{op: op, key: key, class: classify(err), err: err}
}

// permanentCodes are S3 error codes no retry can fix.
var permanentCodes = map[string]bool{
	"AccessDenied": true, "AllAccessDisabled": true, "InvalidAccessKeyId": true,
	"SignatureDoesNotMatch": true, "AccountProblem": true,
	"NoSuchBucket": true, "InvalidBucketName": true, "InvalidBucketState": true,
	"InvalidArgument": true, "InvalidRequest": true, "InvalidObjectState": true,
	"KeyTooLongError": true, "XMinioInvalidObjectName": true, "InvalidObjectName": true,
	"EntityTooLarge": true, "EntityTooSmall": true, "MetadataTooLarge": true,
	"InvalidPart": true, "InvalidPartOrder": true, "NoSuchUpload": true,
	"InvalidStorageClass": true, "MethodNotAllowed": true, "NotImplemented": true,
	"InvalidDigest": true, "BadDigest": true, "MissingContentLength": true,
}

// transientCodes are S3 error codes, some sent with 4xx statuses, that a
// later retry may not see.
var transientCodes = map[string]bool{
	"SlowDown": true, "Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"TooManyRequests": true, "RequestTimeout": true, "RequestTimeTooSkewed": true,
	"ExpiredToken": true, "TokenRefreshRequired": true, "OperationAborted": true,
	"InternalError": true, "ServiceUnavailable": true, "XMinioServerNotInitialized": true,
}

// classify returns remote.ErrNotFound, remote.ErrPrecondition,
// remote.ErrPermanent or nil (transient) for an error of the S3 client.
func classify(err error) error {
	code := apiCode(err)
	switch {
	case code == "NoSuchKey" || code == "NotFound":
		return remote.ErrNotFound
	case code == "PreconditionFailed" || code == "ConditionalRequestConflict":
		return remote.ErrPrecondition
	case permanentCodes[code]:
		return remote.ErrPermanent
	case transientCodes[code]:
		return nil
	}
	switch status := httpStatus(err); {
	case status == 404:
		return remote.ErrNotFound
	case status == 412:
		return remote.ErrPrecondition
	case status == 408 || status == 429 || status >= 500:
		return nil
	case status >= 400:
		return remote.ErrPermanent
	}
	return nil // the network: refused, reset, timed out
}

// apiCode returns the S3 error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response that failed, or 0 when
// there was none.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// responseHeader returns a header of the response that failed, or "".
func responseHeader(err error, name string) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

// describe renders err in one line: the server's code and message and the
// HTTP status, or the network failure, without the SDK's request ids.
func describe(err error) string {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		s := ae.ErrorCode()
		if msg := ae.ErrorMessage(); msg != "" && msg != s {
			s += ": " + msg
		}
		if status := httpStatus(err); status != 0 {
			s += fmt.Sprintf(" (HTTP %d)", status)
		}
		return oneLine(s)
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return oneLine(ne.Error())
	}
	return oneLine(err.Error())
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// notFound reports a missing path the backend checked for itself.
func notFound(op, key string) error {
	return &opError{op: op, key: key, class: remote.ErrNotFound, err: errors.New("no such file or directory")}
}

// invalid reports a request that can never succeed.
func invalid(op, key string, err error) error {
	return &opError{op: op, key: key, class: remote.ErrPermanent, err: err}
}

// precondition reports a Cond that does not hold.
func precondition(op, key, why string) error {
	return &opError{op: op, key: key, class: remote.ErrPrecondition, err: errors.New(why)}
}
