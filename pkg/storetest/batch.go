package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// testBatch checks guard.Batcher, for the stores that are one.
func testBatch(t *testing.T, open Opener) {
	if _, ok := open(t).(guard.Batcher); !ok {
		t.Skip("the store is not a guard.Batcher: each call stands alone")
	}
	batch := func(t *testing.T, s guard.Store, fn func(ctx context.Context) error) error {
		t.Helper()
		return s.(guard.Batcher).Batch(t.Context(), fn)
	}
	// writeAll makes one write of every kind under ctx.
	writeAll := func(ctx context.Context, s guard.Store) error {
		if err := s.MarkProcessed(ctx, "event:eventhub:b1", t0); err != nil {
			return err
		}
		if err := s.PutResource(ctx, &guard.Resource{ID: sa1, Type: "Microsoft.Storage/storageAccounts", ObservedAt: t0}); err != nil {
			return err
		}
		f := finding("f1", sa1, "residency.location", guard.StatusOpen)
		if _, err := s.UpdateFinding(ctx, f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
			return err
		}
		if err := s.PutGrant(ctx, grant("g1", t0)); err != nil {
			return err
		}
		if err := s.Enqueue(ctx, item("o1", t0)); err != nil {
			return err
		}
		if err := s.PutPoison(ctx, poison("p1", t0)); err != nil {
			return err
		}
		_, err := s.AppendAudit(ctx, record(1))
		return err
	}

	t.Run("a batch that returns nil stores every write", func(t *testing.T) {
		s := open(t)
		mustNil(t, "Batch", batch(t, s, func(ctx context.Context) error { return writeAll(ctx, s) }))
		wantProcessed(t, s, "event:eventhub:b1", true)
		getFinding(t, s, "f1")
		if _, err := s.GetResource(t.Context(), sa1); err != nil {
			t.Errorf("GetResource after the batch: %v", err)
		}
		if got := grantIDs(dueGrants(t, s, t0)); len(got) != 1 {
			t.Errorf("grants after the batch: %v, want g1", got)
		}
		if got := itemIDs(dueItems(t, s, t0, 10)); len(got) != 1 {
			t.Errorf("outbox after the batch: %v, want o1", got)
		}
		if got := listPoison(t, s); len(got) != 1 {
			t.Errorf("poison after the batch: %d records, want 1", len(got))
		}
		if got := listAudit(t, s, 0, 10); len(got) != 1 {
			t.Errorf("audit after the batch: %d records, want 1", len(got))
		}
	})

	t.Run("a batch that returns an error stores nothing", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := batch(t, s, func(ctx context.Context) error {
			if err := writeAll(ctx, s); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Batch: got %v, want fn's error", err)
		}
		wantProcessed(t, s, "event:eventhub:b1", false)
		_, err = s.GetFinding(t.Context(), "f1")
		wantNotFound(t, "GetFinding after a failed batch", err)
		_, err = s.GetResource(t.Context(), sa1)
		wantNotFound(t, "GetResource after a failed batch", err)
		if got := dueGrants(t, s, t0); len(got) != 0 {
			t.Errorf("grants after a failed batch: %v", grantIDs(got))
		}
		if got := dueItems(t, s, t0, 10); len(got) != 0 {
			t.Errorf("outbox after a failed batch: %v", itemIDs(got))
		}
		if got := listPoison(t, s); len(got) != 0 {
			t.Errorf("poison after a failed batch: %d records", len(got))
		}
		if got := listAudit(t, s, 0, 10); len(got) != 0 {
			t.Errorf("audit after a failed batch: %d records", len(got))
		}
		// The trail goes on from where it was: Seq 1 again, since nothing was kept.
		mustNil(t, "MarkProcessed after a failed batch", s.MarkProcessed(t.Context(), "event:eventhub:b2", t0))
		recs := appendRecords(t, s, 1)
		if recs[0].Seq != 1 {
			t.Errorf("first record after a failed batch has Seq %d, want 1", recs[0].Seq)
		}
	})

	t.Run("reads in a batch see its writes, and appends chain", func(t *testing.T) {
		s := open(t)
		appendRecords(t, s, 2) // a trail from before the batch
		mustNil(t, "Batch", batch(t, s, func(ctx context.Context) error {
			if err := writeAll(ctx, s); err != nil {
				return err
			}
			if ok, err := s.Processed(ctx, "event:eventhub:b1"); err != nil || !ok {
				t.Errorf("Processed in the batch: %v, %v; want true", ok, err)
			}
			if _, err := s.GetFinding(ctx, "f1"); err != nil {
				t.Errorf("GetFinding in the batch: %v", err)
			}
			if fs, err := s.ListFindings(ctx, guard.FindingFilter{}); err != nil || len(fs) != 1 {
				t.Errorf("ListFindings in the batch: %d findings, %v; want 1", len(fs), err)
			}
			for i := range 3 {
				if _, err := s.AppendAudit(ctx, record(10+i)); err != nil {
					return err
				}
			}
			return nil
		}))
		recs := listAudit(t, s, 0, 100)
		if len(recs) != 6 {
			t.Fatalf("audit after the batch: %d records, want 6", len(recs))
		}
		if p := guard.VerifyAudit(recs); p != nil {
			t.Errorf("the trail written in and out of a batch does not verify: %v", p)
		}
		for i, r := range recs {
			if r.Seq != int64(i+1) {
				t.Errorf("record %d has Seq %d", i, r.Seq)
			}
		}
	})

	t.Run("a failed write in a batch leaves nothing, and the batch goes on", func(t *testing.T) {
		s := open(t)
		refused := errors.New("refused")
		mustNil(t, "Batch", batch(t, s, func(ctx context.Context) error {
			f := finding("f1", sa1, "residency.location", guard.StatusOpen)
			if _, err := s.UpdateFinding(ctx, "f1", func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
				return err
			}
			_, err := s.UpdateFinding(ctx, "f1", func(cur *guard.Finding) (*guard.Finding, error) { return nil, refused })
			if !errors.Is(err, refused) {
				t.Errorf("UpdateFinding whose fn fails: got %v", err)
			}
			return s.MarkProcessed(ctx, "event:eventhub:b1", t0)
		}))
		if got := getFinding(t, s, "f1"); got.Status != guard.StatusOpen {
			t.Errorf("finding after the batch: %s, want open", got.Status)
		}
		wantProcessed(t, s, "event:eventhub:b1", true)
	})

	t.Run("a batch inside a batch joins it", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := batch(t, s, func(ctx context.Context) error {
			err := s.(guard.Batcher).Batch(ctx, func(ctx context.Context) error {
				return s.MarkProcessed(ctx, "event:eventhub:inner", t0)
			})
			if err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Batch: got %v, want fn's error", err)
		}
		wantProcessed(t, s, "event:eventhub:inner", false)
	})

	t.Run("concurrent batches and lone writes build one chain", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 4 {
			wg.Go(func() {
				errs <- batch(t, s, func(ctx context.Context) error {
					for i := range 5 {
						if _, err := s.AppendAudit(ctx, record(100*w+i)); err != nil {
							return err
						}
					}
					return nil
				})
			})
			wg.Go(func() {
				for i := range 5 {
					if _, err := s.AppendAudit(t.Context(), record(1000+100*w+i)); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			mustNil(t, "concurrent append", err)
		}
		recs := listAudit(t, s, 0, 100)
		if len(recs) != 40 {
			t.Fatalf("audit: %d records, want 40", len(recs))
		}
		if p := guard.VerifyAudit(recs); p != nil {
			t.Errorf("the trail does not verify: %v", p)
		}
	})

	t.Run("a cancelled context ends the batch without storing", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		err := s.(guard.Batcher).Batch(ctx, func(ctx context.Context) error {
			if err := s.MarkProcessed(ctx, "event:eventhub:b1", t0); err != nil {
				return err
			}
			cancel()
			return ctx.Err()
		})
		if err == nil {
			t.Fatal("Batch with a cancelled context succeeded")
		}
		wantProcessed(t, s, "event:eventhub:b1", false)
	})
}
