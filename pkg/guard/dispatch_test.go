package guard_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

func TestDispatcher(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"flaky-1", "down-1", "bad-1", "slow-1"} {
		kind := id[:len(id)-2]
		if err := st.Enqueue(ctx, guard.OutboxItem{ID: id, Partition: guard.PartitionOf(acctID), Kind: kind, CreatedAt: t0, NextAttempt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	sent := map[string]int{}
	flaky := 0
	d := &guard.Dispatcher{Outbox: st, MaxAttempts: 4,
		Backoff: func(retry int) time.Duration { return time.Duration(retry) * time.Minute },
		Senders: map[string]guard.Sender{
			"flaky": guard.SenderFunc(func(context.Context, guard.OutboxItem, time.Time) error {
				if flaky++; flaky <= 2 {
					return errors.New("500 Internal Server Error")
				}
				sent["flaky"]++
				return nil
			}),
			"down": guard.SenderFunc(func(context.Context, guard.OutboxItem, time.Time) error { return errors.New("503 Service Unavailable") }),
			"bad": guard.SenderFunc(func(context.Context, guard.OutboxItem, time.Time) error {
				return guard.Permanent(errors.New("400 Bad Request"))
			}),
			"slow": guard.SenderFunc(func(_ context.Context, _ guard.OutboxItem, now time.Time) error {
				if now.Before(t0.Add(time.Hour)) {
					return guard.RetryAfter(errors.New("429 Too Many Requests"), time.Hour)
				}
				sent["slow"]++
				return nil
			}),
		}}
	// Run every minute for two hours: a bounded loop on an explicit clock.
	for m := 0; m <= 120; m++ {
		if _, err := d.Run(ctx, t0.Add(time.Duration(m)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if sent["flaky"] != 1 || sent["slow"] != 1 {
		t.Errorf("deliveries = %v, want the flaky and the throttled target reached once each", sent)
	}
	items, err := st.ListOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]guard.OutboxItem{}
	for _, it := range items {
		got[it.ID] = it
	}
	if len(got) != 2 {
		t.Fatalf("outbox keeps %d items, want the two failed ones: %+v", len(got), items)
	}
	if it := got["down-1"]; !it.Failed || it.Attempts != 4 || it.LastError != "503 Service Unavailable" {
		t.Errorf("always-failing target: %+v, want failed after 4 attempts with the reason", it)
	}
	if it := got["bad-1"]; !it.Failed || it.Attempts != 1 || it.LastError != "400 Bad Request" {
		t.Errorf("permanent error: %+v, want failed at once with the reason", it)
	}
}

// deafOutbox is an outbox whose writes finish whatever becomes of their
// context, as a store's may once its request is on the wire.
type deafOutbox struct{ guard.Outbox }

func (o deafOutbox) Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error {
	return o.Outbox.Retry(context.WithoutCancel(ctx), partition, id, next, lastErr)
}

func (o deafOutbox) Fail(ctx context.Context, partition, id, reason string) error {
	return o.Outbox.Fail(context.WithoutCancel(ctx), partition, id, reason)
}

// A send cut off because the process is stopping (its context cancelled) is
// not an attempt, whether or not the store would still write one: the item
// stays due as it was, and the next Run delivers it.
// The worker and the dispatcher it runs stop together (serve), so this is
// what keeps an item cut off at shutdown from being spent or lost.
func TestDispatcherCutOffKeepsTheItem(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"a", "b"} {
		if err := st.Enqueue(context.Background(), guard.OutboxItem{ID: id, Partition: guard.PartitionOf(acctID), Kind: "k", CreatedAt: t0, NextAttempt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sent, cut := map[string]int{}, false
	d := &guard.Dispatcher{Outbox: deafOutbox{st}, Senders: map[string]guard.Sender{
		"k": guard.SenderFunc(func(ctx context.Context, it guard.OutboxItem, _ time.Time) error {
			if it.ID == "a" && !cut {
				cut = true
				cancel() // the process stops while the target has the request
				return fmt.Errorf("webhook: no answer: %w", ctx.Err())
			}
			sent[it.ID]++
			return nil
		})}}
	if _, err := d.Run(ctx, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run cut off = %v, want context.Canceled", err)
	}
	items, err := st.ListOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Attempts != 0 || !items[0].NextAttempt.Equal(t0) || items[0].LastError != "" {
		t.Fatalf("outbox after the cut = %+v, want both items as they were", items)
	}
	sum, err := d.Run(context.Background(), t0)
	if err != nil || sum.Delivered != 2 || sent["a"] != 1 || sent["b"] != 1 {
		t.Errorf("next Run = %+v, %v, sent %v; want both delivered once", sum, err, sent)
	}
}
