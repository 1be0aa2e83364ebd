package remote

// Counter is implemented by backends that count the requests they send,
// per API operation, retries included. ferry status shows the counts, and
// the benchmarks use them to measure what an idle poll costs.
type Counter interface {
	Requests() map[string]uint64
}
