package guard_test

import (
	"context"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// failingStore fails the n-th call of one write (and only it), after or
// before doing it: a process that dies, or a store that fails, mid-change.
type failingStore struct {
	guard.Store
	mu      sync.Mutex
	op      string
	n       int
	landed  bool // the write is done before the failure (the answer is lost)
	calls   int
	tripped bool
}

var errInjected = errors.New("injected store failure")

func (s *failingStore) fail(op string, do func() error) error {
	s.mu.Lock()
	trip := false
	if op == s.op && !s.tripped {
		s.calls++
		trip = s.calls == s.n
		s.tripped = trip
	}
	s.mu.Unlock()
	if !trip {
		return do()
	}
	if s.landed {
		if err := do(); err != nil {
			return err
		}
	}
	return errInjected
}

// batchingFailingStore is a failingStore that passes the pipeline's batches on
// to the store under it: a failure then ends the delivery's transaction.
type batchingFailingStore struct{ *failingStore }

func (s batchingFailingStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.(guard.Batcher).Batch(ctx, fn)
}

func (s *failingStore) AppendAudit(ctx context.Context, r guard.AuditRecord) (out guard.AuditRecord, err error) {
	err = s.fail("AppendAudit", func() error { out, err = s.Store.AppendAudit(ctx, r); return err })
	return out, err
}

func (s *failingStore) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	return s.fail("Enqueue", func() error { return s.Store.Enqueue(ctx, it) })
}

func (s *failingStore) UpdateFinding(ctx context.Context, id string, fn func(*guard.Finding) (*guard.Finding, error)) (out *guard.Finding, err error) {
	err = s.fail("UpdateFinding", func() error { out, err = s.Store.UpdateFinding(ctx, id, fn); return err })
	return out, err
}

func (s *failingStore) MarkProcessed(ctx context.Context, key string, at time.Time) error {
	return s.fail("MarkProcessed", func() error { return s.Store.MarkProcessed(ctx, key, at) })
}

// recordingPlanner plans one item per target for every transition and keeps
// what it was given.
type recordingPlanner struct {
	mu          sync.Mutex
	transitions []guard.Transition
}

func (p *recordingPlanner) Plan(_ context.Context, t guard.Transition) ([]guard.OutboxItem, error) {
	p.mu.Lock()
	p.transitions = append(p.transitions, t)
	p.mu.Unlock()
	var out []guard.OutboxItem
	for _, target := range []string{"teams", "slack", "webhook"} {
		out = append(out, guard.OutboxItem{ID: t.Finding.ID + "|" + string(t.Finding.Status) + "|" + t.Finding.LastSeen.Format(time.RFC3339Nano) + "|" + target,
			Kind: "notify." + target, Payload: []byte(`{}`)})
	}
	return out, nil
}

// A delivery that fails mid-change, at any of the writes that follow the
// finding's move to open, and is delivered again (by this process, or by
// another after a crash) leaves the transition recorded and every item it
// plans in the outbox; the finding keeps no pending transition, and the
// planner is given the state the resource had before the change both times.
func TestTransitionSurvivesAFailureMidChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      string
		n       int
		landed  bool
		restart bool
	}{
		{"audit record not written", "AppendAudit", 2, false, false},
		{"audit record written, answer lost", "AppendAudit", 2, true, false},
		{"second item not enqueued", "Enqueue", 2, false, false},
		{"third item enqueued, answer lost", "Enqueue", 3, true, false},
		{"told not recorded", "UpdateFinding", 2, false, false},
		{"change not marked, process restarted", "MarkProcessed", 1, false, true},
		{"audit record written, process restarted", "AppendAudit", 2, true, true},
		{"second item not enqueued, process restarted", "Enqueue", 2, false, true},
	} {
		for _, batched := range []bool{false, true} {
			name := tc.name
			if batched {
				name += ", in one transaction"
			}
			t.Run(name, func(t *testing.T) { transitionSurvives(t, tc.op, tc.n, tc.landed, tc.restart, batched) })
		}
	}
}

func transitionSurvives(t *testing.T, op string, n int, landed, restart, batched bool) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	planner := &recordingPlanner{}
	h.p.Planners = []guard.Planner{planner}
	h.observe(at(-10), inside(t, acctID))
	h.observe(at(-1), outside(t, acctID))
	first := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-0", at(-10), alice))
	h.ingest(guard.SourceEventHub, first, at(-9)) // the state before: inside
	fs := &failingStore{Store: h.store, op: op, n: n, landed: landed}
	h.p.Store = fs
	if batched {
		h.p.Store = batchingFailingStore{fs}
	}
	msg := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	h.setClock(t0)
	if _, err := h.p.Ingest(h.ctx, guard.SourceEventHub, msg, t0); !errors.Is(err, errInjected) {
		t.Fatalf("first delivery: %v, want the injected failure", err)
	}
	if batched {
		// The delivery was one transaction: nothing of it is stored.
		if f := h.finding(acctID); f != nil {
			t.Fatalf("finding after the failed delivery: %+v, want none (rolled back)", f)
		}
		if n := len(h.auditOf("change")); n != 1 {
			t.Fatalf("change audit records after the failed delivery: %d, want 1 (the first change's)", n)
		}
	}
	if restart {
		defer guard.SetIncarnationForTest("another-process")()
	}
	h.ingest(guard.SourceEventHub, msg, t0) // delivered again

	f := h.finding(acctID)
	if f == nil || f.Status != guard.StatusOpen || f.Pending != nil {
		t.Fatalf("finding after the retry: %+v", f)
	}
	if n := len(h.auditOf("finding.open")); n < 1 || n > 2 {
		t.Errorf("finding.open recorded %d times, want once (twice at most, when the record was written and the answer lost)", n)
	}
	items, err := h.store.ListOutbox(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Errorf("outbox holds %d items, want the 3 the transition plans", len(items))
	}
	for _, tr := range planner.transitions {
		if tr.Previous == nil || tr.Previous.ObservedAt != at(-10) || tr.From != "" || tr.Finding.Pending != nil {
			t.Errorf("planner given previous %v, from %q, pending %v: want the state before the change, from nothing", tr.Previous, tr.From, tr.Finding.Pending)
		}
	}
}

// A sweep that fails after resolving a finding and recording it, before its
// items are enqueued: the finding is resolved and nothing re-checks it, so the
// next sweep tells the resolution (when another process left it, only once
// PendingLease has passed).
func TestSweepTellsAResolutionLeftUntold(t *testing.T) {
	for _, restart := range []bool{false, true} {
		h := newHarness(t, usPolicy(guard.ModeAlert))
		planner := &recordingPlanner{}
		h.p.Planners = []guard.Planner{planner}
		h.observe(at(-5), outside(t, acctID))
		h.ingest(guard.SourceEventHub, alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-5), alice)), at(-4))
		h.observe(at(1), inside(t, acctID)) // fixed, with no event: the sweep finds it
		fs := &failingStore{Store: h.store, op: "Enqueue", n: 1}
		h.p.Store = fs
		h.setClock(at(5))
		if _, err := h.p.Sweep(h.ctx, at(5)); !errors.Is(err, errInjected) {
			t.Fatalf("sweep: %v, want the injected failure", err)
		}
		if f := h.finding(acctID); f == nil || f.Status != guard.StatusResolved || f.Pending == nil {
			t.Fatalf("finding after the failed sweep: %+v, want resolved, its transition pending", f)
		}
		next := at(10)
		if restart {
			defer guard.SetIncarnationForTest("another-process")()
			next = at(8)
			h.sweep(next)
			if f := h.finding(acctID); f.Pending == nil {
				t.Error("another process told a transition younger than PendingLease")
			}
			next = at(5).Add(guard.PendingLease)
		}
		h.sweep(next)
		if f := h.finding(acctID); f.Pending != nil {
			t.Errorf("restart %v: the resolution is still untold after the sweep at %s", restart, next.Format(time.RFC3339))
		}
		if n := len(h.auditOf("finding.resolved")); n < 1 || n > 2 {
			t.Errorf("restart %v: finding.resolved recorded %d times, want once (twice at most: the record was written before the failure)", restart, n)
		}
		items, _ := h.store.ListOutbox(h.ctx)
		if len(items) != 6 {
			t.Errorf("restart %v: outbox holds %d items, want 6 (opened and resolved, three targets each)", restart, len(items))
		}
	}
}

// choosyStore fails every PutResource of one resource, as a store that chokes
// on one body of a batch, and passes batches on.
type choosyStore struct {
	guard.Store
	bad string
}

func (s choosyStore) PutResource(ctx context.Context, r *guard.Resource) error {
	if guard.SameID(r.ID, s.bad) {
		return errInjected
	}
	return s.Store.PutResource(ctx, r)
}

func (s choosyStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.(guard.Batcher).Batch(ctx, fn)
}

// A batch whose one body the store chokes on is stored without it: the other
// bodies are stored, each in a transaction of its own, and the error names the
// body that was not (Event Hubs would checkpoint them all after the last retry).
func TestIngestAllStoresTheBodiesTheStoreTakes(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	other, bad := acctID+"2", acctID+"3"
	for _, id := range []string{acctID, other, bad} {
		h.observe(at(-5), outside(t, id))
	}
	h.p.Store = choosyStore{Store: h.store, bad: bad}
	bodies := [][]byte{
		alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-5), alice)),
		alMessage(t, alRecord(bad, writeOp, "Success", "corr-2", at(-5), alice)),
		alMessage(t, alRecord(other, writeOp, "Success", "corr-3", at(-5), alice)),
	}
	h.setClock(t0)
	sum, err := h.p.IngestAll(h.ctx, guard.SourceEventHub, bodies, t0)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "message body 2 of 3") {
		t.Fatalf("IngestAll: %v, want the injected failure of message body 2 of 3", err)
	}
	if sum.Changes != 3 {
		t.Errorf("summary %+v, want 3 changes (the failed one counted as tried, not twice)", sum)
	}
	for id, want := range map[string]bool{acctID: true, other: true, bad: false} {
		if got := h.finding(id) != nil; got != want {
			t.Errorf("finding of %s stored: %v, want %v", id, got, want)
		}
	}
}

// Reading ARM several at a time before a batch (ReadConcurrency) reads each
// resource of the batch once and judges as reading one at a time does.
func TestIngestAllReadsConcurrently(t *testing.T) {
	var ids []string
	var records []map[string]any
	for i := range 9 {
		id := acctID + strings.Repeat("x", i+1)
		ids = append(ids, id)
		records = append(records, alRecord(id, writeOp, "Success", "corr-"+id, at(-5), alice))
	}
	findings := map[int]int{}
	for _, conc := range []int{0, 4} {
		h := newHarness(t, usPolicy(guard.ModeAlert))
		h.p.ReadConcurrency = conc
		for i, id := range ids {
			if i%2 == 0 {
				h.observe(at(-5), outside(t, id))
			} else {
				h.observe(at(-5), inside(t, id))
			}
		}
		h.setClock(t0)
		bodies := [][]byte{alMessage(t, records[:4]...), alMessage(t, records[4:]...), alMessage(t, records[:2]...)}
		if _, err := h.p.IngestAll(h.ctx, guard.SourceEventHub, bodies, t0); err != nil {
			t.Fatalf("ReadConcurrency %d: %v", conc, err)
		}
		for _, id := range ids {
			if n := h.reader.count(id); n != 1 {
				t.Errorf("ReadConcurrency %d: %s read %d times, want once", conc, path.Base(id), n)
			}
		}
		findings[conc] = len(h.findings())
	}
	if findings[0] != 5 || findings[4] != findings[0] {
		t.Errorf("findings: %d reading one at a time, %d reading four at a time; want 5 both", findings[0], findings[4])
	}
}
