package notify_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/sqlite"
	"github.com/exportguard/exportguard/pkg/teams"
)

// meeting holds the dispatcher's DueItems until both instances have listed
// the due items, so that both start with the whole burst in hand.
type meeting struct {
	guard.Outbox
	met *sync.WaitGroup
}

func (o meeting) DueItems(ctx context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	its, err := o.Outbox.DueItems(ctx, now, limit)
	o.met.Done()
	o.met.Wait()
	return its, err
}

// Two instances on one store dispatch a burst to Teams at the same moment:
// each folds what it can into digests, and still every message arrives
// exactly once, because a message folded into one instance's digest is
// claimed first and the other instance leaves it alone. Both runs count
// every item they delivered, folded or not.
func TestTwoInstancesFoldABurstOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	srv := notifytest.NewServer(t)
	met := &sync.WaitGroup{}
	met.Add(2)
	var ds [2]*guard.Dispatcher
	var stores [2]*sqlite.Store
	for i := range ds {
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
		s, err := teams.NewSender(teams.Config{URL: srv.URL + notifytest.SecretPath, Ledger: st, Outbox: st,
			Log: slog.New(slog.DiscardHandler), Testing: notifytest.NoWait()})
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = &guard.Dispatcher{Outbox: meeting{st, met}, Senders: map[string]guard.Sender{notify.KindTeams: s}, Log: slog.New(slog.DiscardHandler)}
	}
	const n = 25
	for _, m := range burst(t, n) {
		it := notifytest.Item(t, notify.KindTeams, m)
		it.CreatedAt, it.NextAttempt = t0, t0
		if err := stores[0].Enqueue(t.Context(), it); err != nil {
			t.Fatal(err)
		}
	}
	var sums [2]guard.DispatchSummary
	var errs [2]error
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { sums[i], errs[i] = d.Run(t.Context(), t0) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	reqs := srv.Requests()
	arrivedOnce(t, "teams", reqs, n)
	if got := sums[0].Delivered + sums[1].Delivered; got != n {
		t.Errorf("delivered %d + %d, want %d in all (summaries %+v, %+v)", sums[0].Delivered, sums[1].Delivered, n, sums[0], sums[1])
	}
	left, err := stores[0].ListOutbox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d items left, e.g. %+v", len(left), left[0])
	}
	t.Logf("%d requests for %d messages; %+v, %+v", len(reqs), n, sums[0], sums[1])
}
