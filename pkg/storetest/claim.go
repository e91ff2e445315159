package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// testClaim checks Outbox.Claim, the lease that keeps instances dispatching
// one outbox at the same moment from sending an item twice.
func testClaim(t *testing.T, open Opener) {
	lease := t0.Add(2 * time.Minute)

	t.Run("of two claims of the same due item one wins", func(t *testing.T) {
		s := open(t)
		enqueue(t, s, item("x", t0))
		due := dueItems(t, s, t0, 10)
		if len(due) != 1 {
			t.Fatalf("DueItems: got %d items, want 1", len(due))
		}
		diff(t, "first Claim", true, claim(t, s, pSA1, "x", due[0].NextAttempt, lease))
		diff(t, "second Claim with the same due", false, claim(t, s, pSA1, "x", due[0].NextAttempt, lease))
	})

	t.Run("a claimed item is due again when its lease ends, as it was", func(t *testing.T) {
		s := open(t)
		it := item("x", t0)
		enqueue(t, s, it)
		diff(t, "Claim", true, claim(t, s, pSA1, "x", t0, lease))
		diff(t, "DueItems IDs before the lease ends", []string(nil), itemIDs(dueItems(t, s, lease.Add(-time.Microsecond), 10)))
		want := it
		want.NextAttempt = lease
		got := dueItems(t, s, lease, 10)
		diff(t, "DueItems when the lease ends", []guard.OutboxItem{want}, got)
		if len(got) == 1 {
			wantUTC(t, "DueItems", got[0].NextAttempt)
		}
		diff(t, "Claim again at the lease's end", true, claim(t, s, pSA1, "x", lease, lease.Add(2*time.Minute)))
	})

	t.Run("a claim that cannot win is false and changes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			partition string
			id        string
			due       time.Time
			setup     func(t *testing.T, s guard.Store)
		}{
			{"absent item", pSA1, "no-such-item", t0, nil},
			{"item of another partition", pAlpha, "x", t0, nil},
			{"stale due: retried since", pSA1, "x", t0, func(t *testing.T, s guard.Store) {
				mustNil(t, "Retry", s.Retry(t.Context(), pSA1, "x", t0.Add(time.Minute), "timeout"))
			}},
			{"stale due: claimed since", pSA1, "x", t0, func(t *testing.T, s guard.Store) {
				diff(t, "first Claim", true, claim(t, s, pSA1, "x", t0, lease))
			}},
			{"due other than the item's", pSA1, "x", t0.Add(-time.Microsecond), nil},
			{"failed item", pSA1, "x", t0, func(t *testing.T, s guard.Store) {
				mustNil(t, "Fail", s.Fail(t.Context(), pSA1, "x", "gone"))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				enqueue(t, s, item("x", t0))
				if tc.setup != nil {
					tc.setup(t, s)
				}
				before, err := s.ListOutbox(t.Context())
				mustNil(t, "ListOutbox", err)
				diff(t, "Claim", false, claim(t, s, tc.partition, tc.id, tc.due, lease))
				after, err := s.ListOutbox(t.Context())
				mustNil(t, "ListOutbox", err)
				diff(t, "ListOutbox after the claim", before, after)
			})
		}
	})

	t.Run("Retry and Complete after a claim", func(t *testing.T) {
		s := open(t)
		it := item("r", t0)
		enqueue(t, s, it)
		enqueue(t, s, item("c", t0))
		diff(t, "Claim r", true, claim(t, s, pSA1, "r", t0, lease))
		diff(t, "Claim c", true, claim(t, s, pSA1, "c", t0, lease))
		mustNil(t, "Retry r", s.Retry(t.Context(), pSA1, "r", t0.Add(5*time.Minute), "timeout"))
		mustNil(t, "Complete c", s.Complete(t.Context(), pSA1, "c"))
		want := it
		want.NextAttempt, want.Attempts, want.LastError = t0.Add(5*time.Minute), 1, "timeout"
		diff(t, "DueItems", []guard.OutboxItem{want}, dueItems(t, s, t0.Add(time.Hour), 10))
	})

	t.Run("16 concurrent claims of one item: one wins", func(t *testing.T) {
		s := open(t)
		enqueue(t, s, item("x", t0))
		const n = 16
		won := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				won[i], errs[i] = s.Claim(t.Context(), pSA1, "x", t0, lease.Add(time.Duration(i)*time.Second))
			})
		}
		wg.Wait()
		winner := -1
		for i := range n {
			mustNil(t, "Claim", errs[i])
			if won[i] {
				if winner >= 0 {
					t.Errorf("claims %d and %d both won", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no claim won")
		}
		due := dueItems(t, s, t0.Add(time.Hour), 10)
		if len(due) != 1 || !due[0].NextAttempt.Equal(lease.Add(time.Duration(winner)*time.Second)) {
			t.Errorf("DueItems after the claims: got %+v, want x leased until the winner's end", due)
		}
	})
}

func claim(t *testing.T, s guard.Store, partition, id string, due, until time.Time) bool {
	t.Helper()
	won, err := s.Claim(t.Context(), partition, id, due, until)
	mustNil(t, "Claim "+id, err)
	return won
}
