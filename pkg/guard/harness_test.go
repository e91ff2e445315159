package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/rules"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

const (
	subA     = "3f1c6a52-7d0e-4b8a-9c31-2b5e8f4d6a10"
	subB     = "9b2d4f61-0c1e-4a7b-8d3f-5e6a7b8c9d0e"
	rgA      = "/subscriptions/" + subA + "/resourceGroups/rg-export"
	acctID   = rgA + "/providers/Microsoft.Storage/storageAccounts/stexportdata"
	writeOp  = "Microsoft.Storage/storageAccounts/write"
	deleteOp = "Microsoft.Storage/storageAccounts/delete"
	alice    = "alice@contoso.com"
	bob      = "bob@contoso.com"
	upnClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
)

// t0 is the time every scenario starts at; no test reads the wall clock.
var t0 = time.Date(2025, 3, 10, 14, 0, 0, 0, time.UTC)

// at is t0 plus some minutes.
func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func ptr[T any](v T) *T { return &v }

// accountID names a storage account in rg-export of subscription A.
func accountID(name string) string {
	return rgA + "/providers/Microsoft.Storage/storageAccounts/" + name
}

// account returns Microsoft's storage account GET example (pkg/rules/testdata)
// as the account id, with the given SKU, location and secondaryLocation ("" drops it).
func account(t *testing.T, id, sku, location, secondary string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../rules/testdata/storage_account_get.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["id"], m["name"], m["location"] = id, path.Base(id), location
	m["sku"].(map[string]any)["name"] = sku
	props := m["properties"].(map[string]any)
	props["primaryLocation"] = location
	if secondary == "" {
		delete(props, "secondaryLocation")
	} else {
		props["secondaryLocation"] = secondary
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Account states under a policy that allows the United States.
func outside(t *testing.T, id string) []byte { // RA-GRS replicating to Europe: a violation
	return account(t, id, "Standard_RAGRS", "eastus", "westeurope")
}

func inside(t *testing.T, id string) []byte { // GRS replicating inside the US: compliant
	return account(t, id, "Standard_GRS", "eastus", "westus")
}

// usPolicy allows the United States and runs residency.replication in mode.
func usPolicy(mode string) *guard.Policy {
	return &guard.Policy{
		Cloud:              "AzureCloud",
		AllowedGeographies: []string{"United States"},
		Rules:              map[string]guard.RulePolicy{guard.RuleResidencyReplication: {Mode: mode, Severity: "medium"}},
		Remediation:        guard.RemediationPolicy{Mode: guard.RemediationDryRun},
	}
}

// countingReader is the real replay ARM reader, counting the reads of each resource.
type countingReader struct {
	arm   *replay.ARM
	mu    sync.Mutex
	reads map[string]int
}

func (r *countingReader) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	r.mu.Lock()
	r.reads[guard.IDKey(id)]++
	r.mu.Unlock()
	return r.arm.ReadResource(ctx, id)
}

func (r *countingReader) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads[guard.IDKey(id)]
}

func (r *countingReader) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.reads {
		n += c
	}
	return n
}

// harness is a pipeline wired like main's newPipeline, on a real SQLite store
// and the replay ARM reader, answering at a clock the test sets.
type harness struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	reader *countingReader
	mu     sync.Mutex
	clock  time.Time
	p      *guard.Pipeline
}

func newHarness(t *testing.T, pol *guard.Policy) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessOn(t, st, pol)
}

func newHarnessOn(t *testing.T, st *sqlite.Store, pol *guard.Policy) *harness {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, ctx: t.Context(), store: st}
	h.reader = &countingReader{arm: replay.NewARM(h.now), reads: map[string]int{}}
	h.p = &guard.Pipeline{
		Store:  st,
		Reader: h.reader,
		Policy: pol,
		Rules:  rules.All(),
		Decoders: map[guard.Source]guard.Decoder{
			guard.SourceEventHub:  activitylog.Decode,
			guard.SourceEventGrid: eventgrid.Decode,
		},
		Log: slog.New(slog.DiscardHandler),
	}
	return h
}

func (h *harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clock
}

func (h *harness) setClock(now time.Time) {
	h.mu.Lock()
	h.clock = now
	h.mu.Unlock()
}

// observe records an arm session line: ARM returns body from observedAt on.
func (h *harness) observe(observedAt time.Time, body []byte) {
	h.t.Helper()
	h.armLine(map[string]any{"source": "arm", "observedAt": observedAt.Format(time.RFC3339Nano), "body": json.RawMessage(body)})
}

// gone records that ARM answers 404 for id from observedAt on.
func (h *harness) gone(observedAt time.Time, id string) {
	h.t.Helper()
	h.armLine(map[string]any{"source": "arm", "observedAt": observedAt.Format(time.RFC3339Nano),
		"deleted": true, "body": map[string]any{"id": id}})
}

func (h *harness) armLine(line map[string]any) {
	h.t.Helper()
	b, err := json.Marshal(line)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := session.Parse(b)
	if err != nil {
		h.t.Fatalf("arm line %s: %v", b, err)
	}
	h.reader.arm.Observe(l)
}

func (h *harness) handle(c guard.Change, now time.Time) guard.Summary {
	h.t.Helper()
	h.setClock(now)
	sum, err := h.p.HandleChange(h.ctx, c, now)
	if err != nil {
		h.t.Fatalf("HandleChange(%s %s): %v", c.Operation, c.EventID, err)
	}
	return sum
}

func (h *harness) ingest(src guard.Source, body []byte, now time.Time) guard.Summary {
	h.t.Helper()
	h.setClock(now)
	sum, err := h.p.Ingest(h.ctx, src, body, now)
	if err != nil {
		h.t.Fatalf("Ingest(%s): %v", src, err)
	}
	return sum
}

func (h *harness) sweep(now time.Time) guard.Summary {
	h.t.Helper()
	h.setClock(now)
	sum, err := h.p.Sweep(h.ctx, now)
	if err != nil {
		h.t.Fatalf("Sweep(%s): %v", now.Format(time.RFC3339), err)
	}
	return sum
}

// recheckOpen runs the reconcile's re-check of every open or exempt finding's
// resource (RecheckOpen) at now.
func (h *harness) recheckOpen(now time.Time) guard.Summary {
	h.t.Helper()
	h.setClock(now)
	sum, err := h.p.RecheckOpen(h.ctx, now)
	if err != nil {
		h.t.Fatalf("RecheckOpen(%s): %v", now.Format(time.RFC3339), err)
	}
	return sum
}

// finding returns the residency.replication finding about id, or nil.
func (h *harness) finding(id string) *guard.Finding {
	h.t.Helper()
	return h.findingOf(guard.RuleResidencyReplication, id)
}

func (h *harness) findingOf(rule, id string) *guard.Finding {
	h.t.Helper()
	f, err := h.store.GetFinding(h.ctx, guard.FindingID(rule, id, ""))
	if errors.Is(err, guard.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func (h *harness) findings() []guard.Finding {
	h.t.Helper()
	fs, err := h.store.ListFindings(h.ctx, guard.FindingFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return fs
}

// records returns every partition's records (the seal chain's aside), each
// chain verified, in the order they were written: by At, then partition and
// Seq.
func (h *harness) records() []guard.AuditRecord {
	h.t.Helper()
	heads, err := h.store.AuditHeads(h.ctx, time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	var all []guard.AuditRecord
	for _, hd := range heads {
		if hd.Partition == guard.SealPartition {
			continue
		}
		recs, err := h.store.ListAudit(h.ctx, hd.Partition, 0, 10000)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := guard.VerifyAudit(recs); err != nil {
			h.t.Fatalf("audit chain of %s: %v", hd.Partition, err)
		}
		all = append(all, recs...)
	}
	slices.SortStableFunc(all, func(a, b guard.AuditRecord) int { return a.At.Compare(b.At) })
	return all
}

// audit returns the audit trail as a list of events, as the trail recorded
// them before a change had one record: for each record, a "verdict" for each
// of its verdicts (Subject the resource, Data the verdict), a
// "finding.<status>" for each of its transitions (Subject the finding, Data
// the transition), and the record itself (its Kind: change or sweep).
func (h *harness) audit() []guard.AuditRecord {
	h.t.Helper()
	var out []guard.AuditRecord
	for _, r := range h.records() {
		var d guard.ChangeRecord
		if err := json.Unmarshal(r.Data, &d); err != nil {
			h.t.Fatalf("audit record %s %d: %v", r.Partition, r.Seq, err)
		}
		for _, v := range d.Verdicts {
			b, _ := json.Marshal(v)
			out = append(out, guard.AuditRecord{Partition: r.Partition, At: r.At, Kind: "verdict", Subject: v.ResourceID, Data: b})
		}
		for _, t := range d.Transitions {
			b, _ := json.Marshal(t)
			out = append(out, guard.AuditRecord{Partition: r.Partition, At: r.At, Kind: "finding." + string(t.To), Subject: t.FindingID, Data: b})
		}
		out = append(out, r)
	}
	return out
}

// auditKinds returns the kinds of the audit records after the first skip,
// leaving out verdict records (TestVerdictsAreAudited looks at those).
func (h *harness) auditKinds(skip int) []string {
	h.t.Helper()
	var kinds []string
	for i, r := range h.audit() {
		if i >= skip && r.Kind != "verdict" {
			kinds = append(kinds, r.Kind)
		}
	}
	return kinds
}

// auditOf returns the audit records of one kind.
func (h *harness) auditOf(kind string) []guard.AuditRecord {
	h.t.Helper()
	var out []guard.AuditRecord
	for _, r := range h.audit() {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) poison() []guard.PoisonRecord {
	h.t.Helper()
	ps, err := h.store.ListPoison(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return ps
}

func (h *harness) processed(c guard.Change) bool {
	h.t.Helper()
	ok, err := h.store.Processed(h.ctx, guard.PartitionOf(c.ResourceID), c.OperationKey())
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// change is a succeeded write of id reported by the Activity Log.
func change(id, corr, eventID, caller string) guard.Change {
	return guard.Change{
		ResourceID:     id,
		SubscriptionID: guard.SubscriptionOf(id),
		ResourceType:   guard.TypeOf(id),
		Operation:      writeOp,
		Action:         guard.ActionWrite,
		Outcome:        guard.OutcomeSucceeded,
		Caller:         caller,
		CorrelationID:  corr,
		EventTime:      t0,
		Source:         guard.SourceEventHub,
		EventID:        eventID,
	}
}

// deletion is a succeeded delete of id reported by Event Grid.
func deletion(id, corr, eventID, caller string) guard.Change {
	c := change(id, corr, eventID, caller)
	c.Operation, c.Action, c.Source = deleteOp, guard.ActionDelete, guard.SourceEventGrid
	return c
}

func triggerOf(c guard.Change) guard.Trigger {
	return guard.Trigger{Source: c.Source, EventID: c.EventID, CorrelationID: c.CorrelationID, Caller: c.Caller}
}

func sweepTrigger(now time.Time) guard.Trigger {
	return guard.Trigger{Source: guard.SourceTimer, EventID: "sweep-" + now.UTC().Format(time.RFC3339)}
}

func reconcileTrigger(now time.Time) guard.Trigger {
	return guard.Trigger{Source: guard.SourceTimer, EventID: "reconcile-" + now.UTC().Format(time.RFC3339)}
}

// alRecord is one Activity Log record in the diagnostic-settings schema.
func alRecord(id, operation, result, corr string, when time.Time, upn string) map[string]any {
	return map[string]any{
		"time":            when.Format(time.RFC3339Nano),
		"resourceId":      id,
		"operationName":   operation,
		"category":        "Administrative",
		"resultType":      result,
		"resultSignature": result + ".",
		"correlationId":   corr,
		"identity": map[string]any{
			"authorization": map[string]any{"scope": id, "action": writeOp},
			"claims":        map[string]any{upnClaim: upn},
		},
		"level":    "Information",
		"location": "global",
	}
}

// alMessage is an Event Hubs message body: {"records": [...]}.
func alMessage(t *testing.T, records ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"records": records})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// egEvent is one Microsoft.Resources event in the Event Grid schema.
func egEvent(id, eventType, operation, corr, eventID string, when time.Time, upn string) map[string]any {
	sub := guard.SubscriptionOf(id)
	return map[string]any{
		"subject":   id,
		"eventType": eventType,
		"eventTime": when.Format(time.RFC3339Nano),
		"id":        eventID,
		"data": map[string]any{
			"authorization":  map[string]any{"scope": id, "action": operation},
			"claims":         map[string]any{upnClaim: upn},
			"correlationId":  corr,
			"resourceUri":    id,
			"operationName":  operation,
			"status":         "Succeeded",
			"subscriptionId": sub,
		},
		"dataVersion":     "2",
		"metadataVersion": "1",
		"topic":           "/subscriptions/" + sub,
	}
}

// egDelivery is an Event Grid delivery: an array of events.
func egDelivery(t *testing.T, events ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
