package cli

// Fault tests (issue 8, item 3): the process killed mid-replay, the Cosmos DB
// server throttling and unavailable, hostile bodies at the handler. Each runs
// a short version in `go test ./...` (make test) and a long one behind
// -faults.full or EXPORTGUARD_FAULTS=full (make faults).

import (
	"flag"
	"os"
	"testing"
)

var faultsFullFlag = flag.Bool("faults.full", false, "run the fault tests in full (long): many kills on a large session, long outages")

// faultsFull reports whether the fault tests run in full.
func faultsFull() bool {
	return *faultsFullFlag || os.Getenv("EXPORTGUARD_FAULTS") == "full"
}

// faultsScale picks the short or the full value of a fault test's size.
func faultsScale[T any](t *testing.T, short, full T) T {
	t.Helper()
	if faultsFull() {
		return full
	}
	return short
}
