package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// testBatch checks guard.Batcher: a Batch is one atomic unit, whatever
// partitions it touches. A store may run fn more than once (Cosmos DB does
// after a lost race), so no fn here counts its calls or asserts inside: what
// a run of fn sees is kept in variables each run overwrites, and checked once
// Batch has returned.
func testBatch(t *testing.T, open Opener) {
	t.Run("a batch that returns nil stores every write", func(t *testing.T) {
		s := open(t)
		mustNil(t, "Batch", s.Batch(t.Context(), func(ctx context.Context) error { return writeChange(ctx, s, sa1, 0) }))
		wantChange(t, s, sa1, 0)
	})

	t.Run("a batch that fails leaves nothing", func(t *testing.T) {
		boom := errors.New("boom")
		for _, tc := range []struct {
			name  string
			prior bool // a change of sa1 is stored before the batch
			fn    func(ctx context.Context, s guard.Store) error
			want  error // nil: any error
		}{
			{"fn's own error after every write", false, func(ctx context.Context, s guard.Store) error {
				if err := writeChange(ctx, s, sa1, 1); err != nil {
					return err
				}
				return boom
			}, boom},
			{"fn's own error, over what was there", true, func(ctx context.Context, s guard.Store) error {
				if err := writeChange(ctx, s, sa1, 1); err != nil {
					return err
				}
				return boom
			}, boom},
			{"a store call that fails mid-batch", true, func(ctx context.Context, s guard.Store) error {
				if err := writeChange(ctx, s, sa1, 1); err != nil {
					return err
				}
				// A finding of beta is refused in sa1's partition.
				f := finding("f-beta", beta, guard.RuleResidencyLocation, guard.StatusOpen)
				if _, err := s.UpdateFinding(ctx, pSA1, f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
					return err
				}
				return writeChange(ctx, s, alpha, 1)
			}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				if tc.prior {
					mustNil(t, "the change before", s.Batch(t.Context(), func(ctx context.Context) error { return writeChange(ctx, s, sa1, 0) }))
				}
				before := snapshotOf(t, s)
				err := s.Batch(t.Context(), func(ctx context.Context) error { return tc.fn(ctx, s) })
				if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("Batch: got %v, want %v", err, cmpErr(tc.want))
				}
				diff(t, "the store after a failed batch", before, snapshotOf(t, s))
				// The chain goes on from where it was.
				rec, err := s.AppendAudit(t.Context(), record(pSA1, 9))
				mustNil(t, "AppendAudit after a failed batch", err)
				if want := int64(len(before.Audit[pSA1]) + 1); rec.Seq != want {
					t.Errorf("AppendAudit after a failed batch: Seq %d, want %d", rec.Seq, want)
				}
				wantChain(t, "sa1's chain after a failed batch", pSA1, listAudit(t, s, pSA1, 0, 100))
			})
		}
	})

	t.Run("a batch over two partitions", func(t *testing.T) {
		boom := errors.New("boom")
		for _, fail := range []bool{false, true} {
			t.Run(fmt.Sprintf("failing=%v", fail), func(t *testing.T) {
				s := open(t)
				before := snapshotOf(t, s)
				err := s.Batch(t.Context(), func(ctx context.Context) error {
					for _, id := range []string{alpha, sa1} {
						if err := writeChange(ctx, s, id, 0); err != nil {
							return err
						}
					}
					if fail {
						return boom
					}
					return nil
				})
				if fail {
					if !errors.Is(err, boom) {
						t.Fatalf("Batch: got %v, want fn's error", err)
					}
					diff(t, "the store after a failed batch", before, snapshotOf(t, s))
					return
				}
				mustNil(t, "Batch", err)
				wantChange(t, s, alpha, 0)
				wantChange(t, s, sa1, 0)
			})
		}
	})

	t.Run("reads in a batch see its writes, and appends chain", func(t *testing.T) {
		s := open(t)
		appendRecords(t, s, pSA1, 2) // a chain from before the batch
		// What the last run of fn saw.
		var (
			processed, otherProcessed bool
			got                       *guard.Finding
			counted                   *guard.Finding
			listed                    []guard.Finding
			res                       *guard.Resource
			seqs                      []int64
			errs                      []error
		)
		mustNil(t, "Batch", s.Batch(t.Context(), func(ctx context.Context) error {
			errs = nil
			note := func(err error) { errs = append(errs, err) }
			seqs = nil
			for _, id := range []string{sa1, beta} {
				if err := writeChange(ctx, s, id, 1); err != nil {
					return err
				}
			}
			var err error
			processed, err = s.Processed(ctx, pSA1, changeKey(sa1, 1))
			note(err)
			otherProcessed, err = s.Processed(ctx, pBeta, changeKey(sa1, 1))
			note(err)
			got, err = s.GetFinding(ctx, findingID(sa1))
			note(err)
			listed, err = s.ListFindings(ctx, guard.FindingFilter{ResourceID: sa1})
			note(err)
			res, err = s.GetResource(ctx, sa1Lower)
			note(err)
			for range 2 {
				counted, err = s.UpdateFinding(ctx, pSA1, findingID(sa1), increment)
				if err != nil {
					return err
				}
			}
			for i := range 3 {
				rec, err := s.AppendAudit(ctx, record(pSA1, 10+i))
				if err != nil {
					return err
				}
				seqs = append(seqs, rec.Seq)
			}
			return nil
		}))
		for i, err := range errs {
			if err != nil {
				t.Errorf("read %d in the batch: %v", i, err)
			}
		}
		if !processed || otherProcessed {
			t.Errorf("Processed in the batch: %v in sa1's partition, %v in beta's; want true, false", processed, otherProcessed)
		}
		want := changeFinding(sa1, 1)
		diff(t, "GetFinding in the batch", &want, got)
		diff(t, "ListFindings of sa1 in the batch", []guard.Finding{want}, listed)
		wantRes := changeResource(sa1, 1)
		diff(t, "GetResource in the batch", &wantRes, res)
		if n := counted.Evidence["count"]; n != float64(3) {
			t.Errorf("count after two increments in the batch: %v, want 3 (from the 1 written in it)", n)
		}
		diff(t, "Seqs appended in the batch", []int64{4, 5, 6}, seqs) // after 2 before it and 1 in writeChange
		recs := listAudit(t, s, pSA1, 0, 100)
		if len(recs) != 6 {
			t.Fatalf("audit after the batch: %d records, want 6", len(recs))
		}
		wantChain(t, "the chain written in and out of a batch", pSA1, recs)
		if n := getFinding(t, s, findingID(sa1)).Evidence["count"]; n != float64(3) {
			t.Errorf("count after the batch: %v, want 3", n)
		}
		wantChange(t, s, beta, 1)
	})

	t.Run("a failed call in a batch leaves nothing of itself, and the batch goes on", func(t *testing.T) {
		s := open(t)
		refused := errors.New("refused")
		var updateErr error
		mustNil(t, "Batch", s.Batch(t.Context(), func(ctx context.Context) error {
			f := finding("f1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
			if _, err := s.UpdateFinding(ctx, pSA1, "f1", func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
				return err
			}
			_, updateErr = s.UpdateFinding(ctx, pSA1, "f1", func(cur *guard.Finding) (*guard.Finding, error) {
				n := *cur
				n.Status = guard.StatusResolved
				return &n, refused
			})
			return s.MarkProcessed(ctx, pSA1, "event:eventhub:b1", t0)
		}))
		if !errors.Is(updateErr, refused) {
			t.Errorf("UpdateFinding whose fn fails: got %v, want fn's error", updateErr)
		}
		if got := getFinding(t, s, "f1"); got.Status != guard.StatusOpen {
			t.Errorf("finding after the batch: %s, want open", got.Status)
		}
		wantProcessed(t, s, pSA1, "event:eventhub:b1", true)
	})

	// A Batch under a Batch's context joins it (the embedded store) or is
	// committed on its own when it returns (Cosmos DB): either way it is
	// atomic, and a failed inner Batch leaves nothing of its own.
	t.Run("a batch inside a batch is atomic, joined or on its own", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := s.Batch(t.Context(), func(ctx context.Context) error {
			if err := writeChange(ctx, s, alpha, 0); err != nil {
				return err
			}
			if err := s.Batch(ctx, func(ctx context.Context) error { return writeChange(ctx, s, beta, 0) }); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Batch: got %v, want fn's error", err)
		}
		wantNoChange(t, s, alpha, 0)
		if ok, err := s.Processed(t.Context(), pBeta, changeKey(beta, 0)); err != nil || !ok {
			wantNoChange(t, s, beta, 0) // joined, and discarded with the outer batch
		} else {
			wantChange(t, s, beta, 0) // committed on its own
		}
	})

	t.Run("a failed batch inside a batch leaves nothing, and the outer goes on", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		var innerErr error
		mustNil(t, "Batch", s.Batch(t.Context(), func(ctx context.Context) error {
			if err := writeChange(ctx, s, alpha, 0); err != nil {
				return err
			}
			innerErr = s.Batch(ctx, func(ctx context.Context) error {
				if err := writeChange(ctx, s, beta, 0); err != nil {
					return err
				}
				if err := s.MarkProcessed(ctx, pAlpha, "event:test:inner", t0); err != nil {
					return err
				}
				return boom
			})
			return writeChange(ctx, s, gamma, 0)
		}))
		if !errors.Is(innerErr, boom) {
			t.Errorf("the inner Batch: got %v, want its fn's error", innerErr)
		}
		wantChange(t, s, alpha, 0)
		wantChange(t, s, gamma, 0)
		wantNoChange(t, s, beta, 0)
		wantProcessed(t, s, pAlpha, "event:test:inner", false)
	})

	t.Run("concurrent batches and lone appends build one chain", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				err := s.Batch(t.Context(), func(ctx context.Context) error {
					for i := range 5 {
						if _, err := s.AppendAudit(ctx, record(pSA1, 100*w+i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Errorf("batch %d: %v", w, err)
				}
			})
			wg.Go(func() {
				for i := range 5 {
					if _, err := s.AppendAudit(t.Context(), record(pSA1, 1000+100*w+i)); err != nil {
						t.Errorf("lone appender %d, append %d: %v", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		recs := listAudit(t, s, pSA1, 0, 100)
		if len(recs) != 40 {
			t.Fatalf("audit: %d records, want 40", len(recs))
		}
		wantChain(t, "the chain", pSA1, recs)
	})

	t.Run("a cancelled context ends the batch without storing", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		err := s.Batch(ctx, func(ctx context.Context) error {
			if err := writeChange(ctx, s, sa1, 0); err != nil {
				return err
			}
			cancel()
			return ctx.Err()
		})
		if err == nil {
			t.Fatal("Batch with a cancelled context succeeded")
		}
		wantNoChange(t, s, sa1, 0)
	})
}

// writeChange makes the writes the pipeline makes for change n of a resource,
// each in the resource's partition: its state, a finding (its ID from the
// resource; count n in its evidence), an outbox item and an audit record, the
// change's event key, and, from the second change on, the completion of the
// outbox item of the change before.
func writeChange(ctx context.Context, s guard.Store, resourceID string, n int) error {
	p := guard.PartitionOf(resourceID)
	r := changeResource(resourceID, n)
	if err := s.PutResource(ctx, &r); err != nil {
		return err
	}
	f := changeFinding(resourceID, n)
	if _, err := s.UpdateFinding(ctx, p, f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
		return err
	}
	if n > 0 {
		if err := s.Complete(ctx, p, changeItemID(resourceID, n-1)); err != nil {
			return err
		}
	}
	if err := s.Enqueue(ctx, itemIn(p, changeItemID(resourceID, n), t0)); err != nil {
		return err
	}
	rec := record(p, n)
	rec.Subject = resourceID
	if _, err := s.AppendAudit(ctx, rec); err != nil {
		return err
	}
	return s.MarkProcessed(ctx, p, changeKey(resourceID, n), t0)
}

func changeKey(resourceID string, n int) string {
	return fmt.Sprintf("event:eventhub:%s#%d", guard.IDKey(resourceID), n)
}

func changeItemID(resourceID string, n int) string {
	return fmt.Sprintf("notify-%s-%d", guard.IDKey(resourceID), n)
}

func findingID(resourceID string) string { return "f-" + guard.IDKey(resourceID) }

func changeFinding(resourceID string, n int) guard.Finding {
	f := finding(findingID(resourceID), resourceID, guard.RuleResidencyLocation, guard.StatusOpen)
	f.Evidence = map[string]any{"count": float64(n)}
	return f
}

func changeResource(resourceID string, n int) guard.Resource {
	return resource(resourceID, fmt.Sprintf("region-%d", n), t0.Add(time.Duration(n)*time.Minute))
}

// wantChange reports unless every write of change n of the resource is stored.
func wantChange(t *testing.T, s guard.Store, resourceID string, n int) {
	t.Helper()
	p := guard.PartitionOf(resourceID)
	wantProcessed(t, s, p, changeKey(resourceID, n), true)
	wantR := changeResource(resourceID, n)
	diff(t, "GetResource after change", &wantR, getResource(t, s, resourceID))
	wantF := changeFinding(resourceID, n)
	diff(t, "GetFinding after change", &wantF, getFinding(t, s, wantF.ID))
	all, err := s.ListOutbox(t.Context())
	mustNil(t, "ListOutbox", err)
	var items []string
	for _, it := range all {
		if it.Partition == p {
			items = append(items, it.ID)
		}
	}
	diff(t, "outbox items of "+p+" after change", []string{changeItemID(resourceID, n)}, items)
	recs := listAudit(t, s, p, 0, 100)
	wantChain(t, "the chain of "+p, p, recs)
	if len(recs) == 0 || recs[len(recs)-1].Subject != resourceID {
		t.Errorf("the chain of %s: %d records, want the change's last", p, len(recs))
	}
}

// wantNoChange reports any write of change n of the resource that is stored,
// on a store that had nothing of the resource before it.
func wantNoChange(t *testing.T, s guard.Store, resourceID string, n int) {
	t.Helper()
	p := guard.PartitionOf(resourceID)
	wantProcessed(t, s, p, changeKey(resourceID, n), false)
	_, err := s.GetResource(t.Context(), resourceID)
	wantNotFound(t, "GetResource of a change not stored", err)
	_, err = s.GetFinding(t.Context(), findingID(resourceID))
	wantNotFound(t, "GetFinding of a change not stored", err)
	all, err := s.ListOutbox(t.Context())
	mustNil(t, "ListOutbox", err)
	for _, it := range all {
		if it.Partition == p {
			t.Errorf("outbox item %s of %s kept of a change not stored", it.ID, p)
		}
	}
	diff(t, "the chain of "+p+" of a change not stored", []guard.AuditRecord(nil), listAudit(t, s, p, 0, 100))
}

// snapshot is what the store holds of partitions: what a failed batch must
// leave as it was. (Grants and poison are kept apart from partitions.)
type snapshot struct {
	Resources []guard.Resource
	Findings  []guard.Finding
	Outbox    []guard.OutboxItem
	Heads     []guard.AuditHead
	Audit     map[string][]guard.AuditRecord
	Processed map[string]bool // of the change keys of the suite's resources, numbers 0 to 2
}

func snapshotOf(t *testing.T, s guard.Store) snapshot {
	t.Helper()
	var sn snapshot
	var err error
	sn.Resources = listResources(t, s)
	sn.Findings = listFindings(t, s, guard.FindingFilter{})
	sn.Outbox, err = s.ListOutbox(t.Context())
	mustNil(t, "ListOutbox", err)
	sn.Heads = auditHeads(t, s, time.Time{})
	sn.Audit = map[string][]guard.AuditRecord{}
	for _, id := range []string{sa1, alpha, beta, gamma} {
		p := guard.PartitionOf(id)
		sn.Audit[p] = listAudit(t, s, p, 0, 1000)
	}
	sn.Processed = map[string]bool{}
	for _, id := range []string{sa1, alpha, beta, gamma} {
		for n := range 3 {
			key := changeKey(id, n)
			ok, err := s.Processed(t.Context(), guard.PartitionOf(id), key)
			mustNil(t, "Processed "+key, err)
			sn.Processed[key] = ok
		}
	}
	return sn
}

func cmpErr(err error) any {
	if err == nil {
		return "an error"
	}
	return err
}
