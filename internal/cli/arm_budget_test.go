package cli

import (
	"io"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/resourcemanager/armtest"
)

// TestARMBurstIsPacedAndLosesNothing: 2,000 changes in one subscription, in
// one Event Hubs delivery, against a local ARM that throttles as ARM documents
// (a bucket of 250 reads, refilled at 25 a second, 429 with Retry-After once
// empty). Time runs 40 times faster on both sides (the server refills 1,000 a
// second, the budget paces 800), so the test takes seconds, not minutes; the
// bench row runs at ARM's own pace. Every change is judged; with a full bucket
// no read is throttled; with a bucket another instance drained, the reads
// throttled wait out the Retry-After (none arrives inside it) and are retried.
func TestARMBurstIsPacedAndLosesNothing(t *testing.T) {
	t.Parallel()
	const (
		sub     = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		changes = 2000
		speedup = 40
	)
	tests := []struct {
		name          string
		startTokens   int
		wantThrottled bool
	}{
		{"full bucket", -1, false},
		{"bucket drained by another instance", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := armtest.NewServer(armtest.Options{Bucket: resourcemanager.ARMReadBucket, RefillPerSecond: resourcemanager.ARMReadRefillPerSecond * speedup,
				StartTokens: tt.startTokens, RetryAfter: time.Second})
			defer srv.Close()
			budget := resourcemanager.NewReadBudget(resourcemanager.BudgetOptions{PerSecond: resourcemanager.DefaultBudget.PerSecond * speedup,
				Burst: resourcemanager.DefaultBudget.Burst, Concurrency: resourcemanager.DefaultBudget.Concurrency})
			reader, err := srv.Client(budget)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := policyfile.Load("")
			if err != nil {
				t.Fatal(err)
			}
			st, err := testApp().openStore(t.Context(), "memory:")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			log, _ := newLogger(io.Discard, "error", true)
			pl, err := testApp().newPipeline(st, reader, pol, log)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			began := time.Now()

			sum, err := pl.IngestAll(t.Context(), guard.SourceEventHub, armtest.WriteBodies(sub, changes, 100, now), now)

			wall := time.Since(began)
			if err != nil {
				t.Fatalf("IngestAll: %v (the delivery would be retried, but none should fail here)", err)
			}
			fs, err := st.ListFindings(t.Context(), guard.FindingFilter{Rule: guard.RuleResidencyReplication, Status: guard.StatusOpen})
			if err != nil {
				t.Fatal(err)
			}
			c := srv.Counts()
			t.Logf("%d changes: %d reads answered, %d throttled (429), %d inside a Retry-After; budget sent %d; %s wall (time x%d)",
				changes, c.Reads, c.Throttled, c.Early, budget.Reads(), wall.Round(time.Millisecond), speedup)
			if sum.Changes != changes || len(fs) != changes {
				t.Errorf("%d changes, %d findings open; want every one of %d judged (summary %+v)", sum.Changes, len(fs), changes, sum)
			}
			if c.Reads != changes {
				t.Errorf("ARM answered %d reads, want %d (one per account)", c.Reads, changes)
			}
			if c.Early != 0 {
				t.Errorf("%d reads arrived while a Retry-After was running, want none", c.Early)
			}
			if got := c.Throttled > 0; got != tt.wantThrottled {
				t.Errorf("%d reads throttled, want some: %v", c.Throttled, tt.wantThrottled)
			}
			if budget.Reads() != int64(c.Reads+c.Throttled) || budget.Throttled() != int64(c.Throttled) {
				t.Errorf("the budget counted %d reads and %d 429s, the server %d and %d", budget.Reads(), budget.Throttled(), c.Reads+c.Throttled, c.Throttled)
			}
		})
	}
}
