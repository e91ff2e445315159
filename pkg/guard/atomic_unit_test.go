package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// failingStore fails the n-th call of one write (and only it), after or
// before doing it: a store that fails, or whose answer is lost, mid-change.
// It passes Batches on to the store under it, and records the writes it
// passes on, with their partitions, in order.
type failingStore struct {
	guard.Store
	mu      sync.Mutex
	op      string
	n       int
	landed  bool // the write is done before the failure (the answer is lost)
	calls   int
	tripped bool
	writes  []string // "op partition"
	reads   int      // Processed, GetResource, GetFinding, ListFindings, ListResources
}

var errInjected = errors.New("injected store failure")

func (s *failingStore) fail(op, partition string, do func() error) error {
	s.mu.Lock()
	trip := false
	if op == s.op && !s.tripped {
		s.calls++
		trip = s.calls == s.n
		s.tripped = trip
	}
	s.mu.Unlock()
	if trip && !s.landed {
		return errInjected
	}
	if err := do(); err != nil {
		return err
	}
	s.mu.Lock()
	s.writes = append(s.writes, op+" "+partition)
	s.mu.Unlock()
	if trip {
		return errInjected
	}
	return nil
}

func (s *failingStore) read() {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
}

func (s *failingStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Store.Batch(ctx, fn)
}

func (s *failingStore) AppendAudit(ctx context.Context, r guard.AuditRecord) (out guard.AuditRecord, err error) {
	err = s.fail("AppendAudit", r.Partition, func() error { out, err = s.Store.AppendAudit(ctx, r); return err })
	return out, err
}

func (s *failingStore) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	return s.fail("Enqueue", it.Partition, func() error { return s.Store.Enqueue(ctx, it) })
}

func (s *failingStore) UpdateFinding(ctx context.Context, partition, id string, fn func(*guard.Finding) (*guard.Finding, error)) (out *guard.Finding, err error) {
	err = s.fail("UpdateFinding", partition, func() error { out, err = s.Store.UpdateFinding(ctx, partition, id, fn); return err })
	return out, err
}

func (s *failingStore) PutResource(ctx context.Context, r *guard.Resource) error {
	return s.fail("PutResource", guard.PartitionOf(r.ID), func() error { return s.Store.PutResource(ctx, r) })
}

func (s *failingStore) MarkProcessed(ctx context.Context, partition, key string, at time.Time) error {
	return s.fail("MarkProcessed", partition, func() error { return s.Store.MarkProcessed(ctx, partition, key, at) })
}

func (s *failingStore) Processed(ctx context.Context, partition, key string) (bool, error) {
	s.read()
	return s.Store.Processed(ctx, partition, key)
}

func (s *failingStore) GetResource(ctx context.Context, id string) (*guard.Resource, error) {
	s.read()
	return s.Store.GetResource(ctx, id)
}

func (s *failingStore) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	s.read()
	return s.Store.ListFindings(ctx, f)
}

func (s *failingStore) ListResources(ctx context.Context) ([]guard.Resource, error) {
	s.read()
	return s.Store.ListResources(ctx)
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

// A change whose unit fails at any of its writes, whether the write was done
// or not, stores nothing of itself: no finding, no audit record, no outbox
// item, no event key, no state. Delivered again, it is stored whole, its
// transition told once; delivered a third time, it is a duplicate that tells
// nothing. Both through a delivery (a Batch nested in the delivery's) and on
// its own.
func TestAChangeWhoseUnitFailsStoresNothingOfIt(t *testing.T) {
	type failure struct {
		op     string
		n      int
		landed bool
	}
	failures := []failure{
		{"UpdateFinding", 1, false}, {"UpdateFinding", 1, true},
		{"Enqueue", 1, false}, {"Enqueue", 3, true},
		{"AppendAudit", 1, false}, {"AppendAudit", 1, true},
		{"PutResource", 1, true},
		{"MarkProcessed", 1, false}, {"MarkProcessed", 1, true},
	}
	for _, via := range []string{"delivery", "change"} {
		for _, f := range failures {
			name := via + "/" + f.op + map[bool]string{true: " done, answer lost", false: " failed"}[f.landed]
			if f.n > 1 {
				name += " (its third)"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, usPolicy(guard.ModeAlert))
				h.observe(at(-5), outside(t, acctID))
				fs := &failingStore{Store: h.store, op: f.op, n: f.n, landed: f.landed}
				pl := &recordingPlanner{}
				h.p.Store, h.p.Planners = fs, []guard.Planner{pl}
				c := change(acctID, "corr-1", "al-1", alice)
				deliver := func() (guard.Summary, error) {
					h.setClock(t0)
					if via == "delivery" {
						return h.p.Ingest(h.ctx, guard.SourceEventHub, alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice)), t0)
					}
					return h.p.HandleChange(h.ctx, c, t0)
				}

				sum, err := deliver()
				if !errors.Is(err, errInjected) {
					t.Fatalf("first delivery: %v, want the injected failure", err)
				}
				if sum.Transitions != 0 || sum.Verdicts != 0 {
					t.Errorf("first delivery's summary %+v counts what was not stored", sum)
				}
				if fs := h.findings(); len(fs) != 0 {
					t.Errorf("findings after the failed unit: %+v, want none", fs)
				}
				if recs := h.records(); len(recs) != 0 {
					t.Errorf("audit records after the failed unit: %d, want none", len(recs))
				}
				if items := outbox(t, h); len(items) != 0 {
					t.Errorf("outbox after the failed unit: %d items, want none", len(items))
				}
				if _, err := h.store.GetResource(h.ctx, acctID); !errors.Is(err, guard.ErrNotFound) {
					t.Errorf("state after the failed unit: %v, want none kept", err)
				}
				if h.processed(c) {
					t.Error("the change is marked processed after its unit failed")
				}

				sum, err = deliver()
				if err != nil {
					t.Fatalf("second delivery: %v", err)
				}
				if want := (guard.Summary{Changes: 1, Verdicts: 1, Transitions: 1}); sum != want {
					t.Errorf("second delivery's summary %+v, want %+v", sum, want)
				}
				sum, err = deliver()
				if err != nil {
					t.Fatalf("third delivery: %v", err)
				}
				if want := (guard.Summary{Changes: 1, Duplicates: 1}); sum != want {
					t.Errorf("third delivery's summary %+v, want %+v", sum, want)
				}
				if f := h.finding(acctID); f == nil || f.Status != guard.StatusOpen {
					t.Fatalf("finding %+v, want open", f)
				}
				if diff := cmp.Diff([]string{"finding.open", "change"}, h.auditKinds(0)); diff != "" {
					t.Errorf("audit (-want +got):\n%s", diff)
				}
				if items := outbox(t, h); len(items) != 3 {
					t.Errorf("outbox: %d items, want the transition's 3", len(items))
				}
				if !h.processed(c) {
					t.Error("the change is not marked processed")
				}
				if _, err := h.store.GetResource(h.ctx, acctID); err != nil {
					t.Errorf("state: %v, want the state judged kept", err)
				}
			})
		}
	}
}

func outbox(t *testing.T, h *harness) []guard.OutboxItem {
	t.Helper()
	items, err := h.store.ListOutbox(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Partition != guard.PartitionOf(acctID) {
			t.Errorf("outbox item %s in partition %q, want the finding's %q", it.ID, it.Partition, guard.PartitionOf(acctID))
		}
	}
	return items
}

// A change that moves findings of other partitions (a Key Vault key disabled:
// the accounts that use it) writes one record of the change in each of those,
// with their verdicts and transitions, before its own partition's record;
// and its own partition's writes end with the event key, its last write (on
// Cosmos DB, partitions commit in the order of their last write).
func TestDependentsRecordFirstAndTheEventKeyLast(t *testing.T) {
	keyID := keyIn("docs-key")
	pol := usPolicy(guard.ModeAlert)
	pol.Rules[guard.RuleEncryptionCMK] = guard.RulePolicy{Mode: guard.ModeAlert}
	h := newHarness(t, pol)
	h.observe(at(0), accountOn("docs-key"))
	h.handle(change(acctID, "corr-1", "al-1", alice), at(0))
	h.observe(at(5), []byte(`{"id":"`+keyID+`","name":"docs-key","type":"Microsoft.KeyVault/vaults/keys","properties":{
		"keyUri":"https://kv-a.vault.azure.net/keys/docs-key","attributes":{"enabled":false}}}`))
	fs := &failingStore{Store: h.store}
	h.p.Store = fs
	sum := h.handle(change(keyID, "corr-2", "al-2", alice), at(5))
	if sum.Transitions != 1 {
		t.Fatalf("summary %+v, want the account's finding opened", sum)
	}
	acct, key := guard.PartitionOf(acctID), guard.PartitionOf(keyID)
	lastOf := map[string]int{}
	for i, w := range fs.writes {
		lastOf[w[strings.Index(w, " ")+1:]] = i
	}
	if fs.writes[len(fs.writes)-1] != "MarkProcessed "+key {
		t.Errorf("writes %q: want the key's event marked processed last", fs.writes)
	}
	if lastOf[acct] > lastOf[key] {
		t.Errorf("writes %q: the account's partition is written after the key's", fs.writes)
	}
	wantOrder := []string{"UpdateFinding " + acct, "AppendAudit " + acct, "AppendAudit " + key, "PutResource " + key, "MarkProcessed " + key}
	var got []string
	for _, w := range fs.writes {
		if !strings.HasPrefix(w, "Enqueue") {
			got = append(got, w)
		}
	}
	if diff := cmp.Diff(wantOrder, got); diff != "" {
		t.Errorf("writes of the key's change (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		part            string
		transitions     int
		verdictResource string
	}{{acct, 1, acctID}, {key, 0, ""}} {
		recs, err := h.store.ListAudit(h.ctx, tc.part, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		last := recs[len(recs)-1]
		var d guard.ChangeRecord
		if err := json.Unmarshal(last.Data, &d); err != nil {
			t.Fatal(err)
		}
		if last.Kind != guard.AuditChange || last.Subject != keyID || d.EventID != "al-2" || len(d.Transitions) != tc.transitions {
			t.Errorf("last record of %s: %s %s %s, want the key's change with %d transitions", path.Base(tc.part), last.Kind, last.Subject, last.Data, tc.transitions)
		}
		if tc.verdictResource != "" && (len(d.Verdicts) != 1 || d.Verdicts[0].ResourceID != tc.verdictResource) {
			t.Errorf("verdicts of %s: %+v, want one on %s", path.Base(tc.part), d.Verdicts, tc.verdictResource)
		}
	}
}

// A delivery of records no rule judges (Start records, failures, other
// subscriptions, types no rule judges) asks the store nothing; a duplicate
// asks only the ledger of its partition and writes nothing.
func TestStoreCallsOfSkippedAndDuplicateChanges(t *testing.T) {
	p := usPolicy(guard.ModeAlert)
	p.Scope.Subscriptions = []string{subA}
	h := newHarness(t, p)
	h.observe(at(-5), outside(t, acctID))
	fs := &failingStore{Store: h.store}
	h.p.Store = fs
	other := "/subscriptions/" + subB + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/elsewhere"
	skipped := alMessage(t,
		alRecord(acctID, writeOp, "Start", "corr-1", at(-2), alice),
		alRecord(acctID, writeOp, "Failure", "corr-0", at(-3), alice),
		alRecord(other, writeOp, "Success", "corr-2", at(-1), alice),
		alRecord(rgA+"/providers/Microsoft.KeyVault/vaults/kv", "Microsoft.KeyVault/vaults/write", "Success", "corr-3", at(-1), alice))
	h.ingest(guard.SourceEventHub, skipped, t0)
	if fs.reads != 0 || len(fs.writes) != 0 {
		t.Errorf("records no rule judges: %d reads, writes %q; want none", fs.reads, fs.writes)
	}
	judged := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	h.ingest(guard.SourceEventHub, judged, t0)
	fs.reads, fs.writes = 0, nil
	sum := h.ingest(guard.SourceEventHub, judged, t0)
	if sum.Duplicates != 1 || len(fs.writes) != 0 || h.reader.count(acctID) != 1 {
		t.Errorf("duplicate: %+v, writes %q, %d ARM reads; want a duplicate, no write, the one read before", sum, fs.writes, h.reader.count(acctID))
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

// A delivery one of whose changes the store chokes on is stored without it:
// the other changes are stored, and the error names the body that was not
// (Event Hubs would checkpoint them all after the last retry).
func TestIngestAllStoresTheChangesTheStoreTakes(t *testing.T) {
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
	if sum.Changes != 3 || sum.Transitions != 2 {
		t.Errorf("summary %+v, want 3 changes (the failed one counted as tried, not twice), 2 transitions", sum)
	}
	for id, want := range map[string]bool{acctID: true, other: true, bad: false} {
		if got := h.finding(id) != nil; got != want {
			t.Errorf("finding of %s stored: %v, want %v", id, got, want)
		}
	}
	if n := len(h.auditOf("change")); n != 2 {
		t.Errorf("change records: %d, want the 2 stored changes'", n)
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
