// Package storetest is the contract suite of guard.Store. exportguard has more
// than one store (the embedded SQLite store, Cosmos DB) and the pipeline must not
// be able to tell them apart: whatever guard.Store documents (not found errors,
// partitions and their audit chains, atomic Batches, atomic read-modify-write
// under many writers, case-insensitive resource IDs, orderings, idempotent
// writes, UTC times) is checked here once, and every implementation runs this
// suite from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) guard.Store {
//			s, err := mystore.Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Opener opens a new, empty store for one test, and registers its cleanup with t.
type Opener = func(t *testing.T) guard.Store

// Run runs the contract suite against the stores open returns. Every subtest
// opens a store of its own. Nothing in it assumes that a Batch runs its fn
// once (Cosmos DB runs it again after a lost race), and its concurrent writers
// (at most 32 goroutines) are few enough that a store that retries lost races
// must never give up on one.
func Run(t *testing.T, open func(t *testing.T) guard.Store) {
	t.Run("Findings", func(t *testing.T) { testFindings(t, open) })
	t.Run("Resources", func(t *testing.T) { testResources(t, open) })
	t.Run("Ledger", func(t *testing.T) { testLedger(t, open) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, open) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Poison", func(t *testing.T) { testPoison(t, open) })
	t.Run("Batch", func(t *testing.T) { testBatch(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
}

// t0 is the suite's reference time: not in UTC (stores must return UTC) and with
// microseconds (stores must keep at least those).
var t0 = time.Date(2025, time.March, 14, 9, 26, 53, 589793000, time.FixedZone("UTC+2", 2*60*60))

// Resource IDs in the casings sources use. sa1Lower names the same resource as sa1.
const (
	sub      = "00000000-0000-0000-0000-000000000001"
	rgPrefix = "/subscriptions/" + sub + "/resourceGroups/rg-EU/providers/Microsoft.Storage/storageAccounts/"
	sa1      = rgPrefix + "SA1"
	sa1Lower = "/subscriptions/" + sub + "/resourcegroups/rg-eu/providers/microsoft.storage/storageaccounts/sa1"
	alpha    = rgPrefix + "alpha"
	beta     = rgPrefix + "Beta"
	gamma    = rgPrefix + "Gamma"
	// sa1Blob is a child settings resource of sa1: it shares sa1's partition.
	sa1Blob = sa1 + "/blobServices/default"
)

// The partitions of the resources above (guard.PartitionOf), as the pipeline
// names them.
var (
	pSA1   = guard.PartitionOf(sa1)
	pAlpha = guard.PartitionOf(alpha)
	pBeta  = guard.PartitionOf(beta)
	pGamma = guard.PartitionOf(gamma)
)

// cmpOpts compare what a store returns with what the suite expects: times with
// time.Time.Equal (cmp uses the Equal method), raw JSON by meaning, since a store
// may keep it as a document rather than as bytes, and nil like empty.
var cmpOpts = []cmp.Option{
	cmp.Comparer(jsonEqual),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != rawType }, cmpopts.EquateEmpty()),
}

var rawType = reflect.TypeFor[json.RawMessage]()

// jsonEqual reports whether a and b are the same JSON value (or the same bytes,
// when either is not JSON).
func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(va, vb)
}

// diff reports a difference between want and got.
func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// wantUTC reports the times that are not in UTC.
func wantUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, tm.Location())
		}
	}
}

// wantNotFound reports an error that does not wrap guard.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("%s: got error %v, want one wrapping guard.ErrNotFound", what, err)
	}
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
