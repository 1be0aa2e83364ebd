package s3

import (
	"context"
	"maps"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// requestCounter counts the requests a client sends, by operation name,
// each retry attempt included.
type requestCounter struct {
	mu sync.Mutex
	n  map[string]uint64
}

// add installs the counter at the end of the finalize step, after the
// SDK's retry loop, so that every attempt passes it.
func (c *requestCounter) add(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("ferryCountRequests",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			c.mu.Lock()
			c.n[op]++
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// Requests implements remote.Counter.
func (r *Remote) Requests() map[string]uint64 {
	r.count.mu.Lock()
	defer r.count.mu.Unlock()
	return maps.Clone(r.count.n)
}
