package guard_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// meetingOutbox holds DueItems until every dispatcher of the test has listed
// the due items: instances that run at the same moment, each with the whole
// list in hand before any sends.
type meetingOutbox struct {
	guard.Outbox
	met *sync.WaitGroup
}

func (o meetingOutbox) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	its, err := o.Outbox.DueItems(ctx, now, limit)
	o.met.Done()
	o.met.Wait()
	return its, err
}

// openTwice opens one SQLite file as two stores, as two instances would.
func openTwice(t *testing.T) (*sqlite.Store, *sqlite.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	var out [2]*sqlite.Store
	for i := range out {
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out[0], out[1]
}

// Two instances dispatching one outbox at the same moment, each having listed
// every item as due, deliver each item once: the one that claims it first.
func TestDispatchersAtTheSameMomentDeliverOnce(t *testing.T) {
	a, b := openTwice(t)
	ids := []string{"n-1", "n-2", "n-3", "n-4", "n-5", "n-6"}
	for _, id := range ids {
		if err := a.Enqueue(t.Context(), guard.OutboxItem{ID: id, Partition: guard.PartitionOf(acctID), Kind: "k", CreatedAt: t0, NextAttempt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	sent := map[string]int{}
	sender := guard.SenderFunc(func(_ context.Context, it guard.OutboxItem, _ time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		sent[it.ID]++
		return nil
	})
	met := &sync.WaitGroup{}
	met.Add(2)
	var sums [2]guard.DispatchSummary
	var errs [2]error
	var wg sync.WaitGroup
	for i, st := range []guard.Outbox{a, b} {
		d := &guard.Dispatcher{Outbox: meetingOutbox{st, met}, Senders: map[string]guard.Sender{"k": sender}}
		wg.Go(func() { sums[i], errs[i] = d.Run(t.Context(), t0) })
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("Run %d: %v", i, errs[i])
		}
	}
	for _, id := range ids {
		if sent[id] != 1 {
			t.Errorf("item %s sent %d times, want once (all sent: %v)", id, sent[id], sent)
		}
	}
	delivered, skipped := sums[0].Delivered+sums[1].Delivered, sums[0].Skipped+sums[1].Skipped
	if delivered != len(ids) || skipped != len(ids) {
		t.Errorf("summaries %+v and %+v: want %d delivered and %d skipped in all", sums[0], sums[1], len(ids), len(ids))
	}
	if left, err := a.ListOutbox(t.Context()); err != nil || len(left) != 0 {
		t.Errorf("outbox after both runs = %+v, %v; want empty", left, err)
	}
}

// An item claimed by an instance that then dies (no Complete, Retry or Fail)
// is left to no one until the lease ends, and is delivered once then.
func TestDispatcherDeliversAClaimLeftByADeadInstance(t *testing.T) {
	dead, alive := openTwice(t)
	const lease = 2 * time.Minute
	if err := alive.Enqueue(t.Context(), guard.OutboxItem{ID: "n-1", Partition: guard.PartitionOf(acctID), Kind: "k", CreatedAt: t0, NextAttempt: t0}); err != nil {
		t.Fatal(err)
	}
	// The dead instance's dispatcher claimed the item at t0, then stopped.
	if won, err := dead.Claim(t.Context(), guard.PartitionOf(acctID), "n-1", t0, t0.Add(lease)); err != nil || !won {
		t.Fatalf("Claim = %v, %v; want won", won, err)
	}
	sent := 0
	d := &guard.Dispatcher{Outbox: alive, Lease: lease, Senders: map[string]guard.Sender{
		"k": guard.SenderFunc(func(context.Context, guard.OutboxItem, time.Time) error { sent++; return nil })}}
	for _, tc := range []struct {
		at       time.Duration
		wantSent int
	}{
		{0, 0},
		{lease - time.Second, 0},
		{lease, 1},
		{lease + time.Minute, 1},
	} {
		if _, err := d.Run(t.Context(), t0.Add(tc.at)); err != nil {
			t.Fatal(err)
		}
		if sent != tc.wantSent {
			t.Errorf("after a run %s after the claim: sent %d times, want %d", tc.at, sent, tc.wantSent)
		}
	}
}
