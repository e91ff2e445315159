package guard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// TestRecheckOpen sets up accounts in several states, changes some of them in
// ARM with no event, and runs the reconcile's re-check of open findings: only
// accounts with open or exempt findings are re-read, and each ends where ARM
// now says it is.
func TestRecheckOpen(t *testing.T) {
	type account struct {
		name       string
		initial    func(t *testing.T, id string) []byte
		later      func(h *harness, id string) // what changes in ARM at at(10), with no event
		fixedByEvt bool                        // a compliant state at at(10) arrives with an event
		exempt     bool
		wantReads  int // by the re-check
		wantStatus guard.Status
		wantSweep  bool // the reconcile's trigger is the finding's latest
	}
	fixed := func(h *harness, id string) { h.observe(at(10), inside(h.t, id)) }
	deleted := func(h *harness, id string) { h.gone(at(10), id) }
	unchanged := func(*harness, string) {}
	accounts := []account{
		{name: "stfixednoevent", initial: outside, later: fixed, wantReads: 1, wantStatus: guard.StatusResolved, wantSweep: true},
		{name: "ststillbad", initial: outside, later: unchanged, wantReads: 1, wantStatus: guard.StatusOpen},
		{name: "stdeletednoevent", initial: outside, later: deleted, wantReads: 1, wantStatus: guard.StatusResolved, wantSweep: true},
		{name: "stexempt", initial: outside, later: unchanged, exempt: true, wantReads: 1, wantStatus: guard.StatusExempt},
		{name: "stexemptfixed", initial: outside, later: fixed, exempt: true, wantReads: 1, wantStatus: guard.StatusResolved, wantSweep: true},
		{name: "stresolved", initial: outside, later: fixed, fixedByEvt: true, wantReads: 0, wantStatus: guard.StatusResolved},
		{name: "stcompliant", initial: inside, later: unchanged, wantReads: 0},
		{name: "stcompliantbroken", initial: inside, later: func(h *harness, id string) { h.observe(at(10), outside(h.t, id)) }, wantReads: 0},
	}
	pol := usPolicy(guard.ModeAlert)
	for _, a := range accounts {
		if a.exempt {
			pol.Exemptions = append(pol.Exemptions, guard.Exemption{Resource: accountID(a.name), ExpiresOn: at(600), Reason: "r", ApprovedBy: "a"})
		}
	}
	h := newHarness(t, pol)
	triggers := map[string]guard.Trigger{}
	for i, a := range accounts {
		id := accountID(a.name)
		h.observe(at(-5), a.initial(t, id))
		c := change(id, "corr-"+a.name, "al-"+a.name, alice)
		h.handle(c, t0)
		triggers[a.name] = triggerOf(c)
		a.later(h, id)
		if a.fixedByEvt {
			c := change(id, "corr-fix-"+a.name, "al-fix-"+a.name, bob)
			h.handle(c, at(10+i))
			triggers[a.name] = triggerOf(c)
		}
	}
	readsBefore := map[string]int{}
	for _, a := range accounts {
		readsBefore[a.name] = h.reader.count(accountID(a.name))
	}
	now := at(30)

	sum := h.recheckOpen(now)

	if want := (guard.Summary{Verdicts: 4, Transitions: 3}); sum != want {
		t.Errorf("re-check summary = %+v, want %+v (fixed, stillbad, exempt, exemptfixed judged; fixed, deleted, exemptfixed changed)", sum, want)
	}
	for _, a := range accounts {
		t.Run(a.name, func(t *testing.T) {
			id := accountID(a.name)
			if got := h.reader.count(id) - readsBefore[a.name]; got != a.wantReads {
				t.Errorf("re-check read it %d times, want %d", got, a.wantReads)
			}
			f := h.finding(id)
			if a.wantStatus == "" {
				if f != nil {
					t.Errorf("finding = %+v, want none", f)
				}
				return
			}
			if f == nil {
				t.Fatal("no finding stored")
			}
			if f.Status != a.wantStatus {
				t.Errorf("status = %s, want %s", f.Status, a.wantStatus)
			}
			wantTrig := triggers[a.name]
			if a.wantSweep {
				wantTrig = reconcileTrigger(now)
			}
			if diff := cmp.Diff(wantTrig, f.Trigger); diff != "" {
				t.Errorf("trigger (-want +got):\n%s", diff)
			}
			if !f.FirstSeen.Equal(t0) {
				t.Errorf("firstSeen = %s, want %s", f.FirstSeen, t0)
			}
			if a.wantReads > 0 && !f.LastSeen.Equal(now) {
				t.Errorf("lastSeen = %s, want the re-check's %s", f.LastSeen, now)
			}
			if a.wantSweep && (f.ResolvedAt == nil || !f.ResolvedAt.Equal(now)) {
				t.Errorf("resolvedAt = %v, want %s", f.ResolvedAt, now)
			}
		})
	}
}

func TestSweepWithNothingOpenReadsNothing(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), inside(t, acctID))
	h.handle(change(acctID, "corr-1", "al-1", alice), t0)
	reads := h.reader.total()

	for i := range 3 {
		if sum := h.sweep(at(10 * (i + 1))); sum != (guard.Summary{}) {
			t.Errorf("sweep %d summary = %+v, want nothing done", i, sum)
		}
	}
	if got := h.reader.total() - reads; got != 0 {
		t.Errorf("sweeps read ARM %d times, want none", got)
	}
}

// TestExemptionExpiry: an exempt finding stays exempt while its exemption
// lasts (and the sweep reads nothing for it) and turns open at the first sweep
// at or after it expires.
func TestExemptionExpiry(t *testing.T) {
	expires := at(120)
	pol := usPolicy(guard.ModeAlert)
	pol.Exemptions = []guard.Exemption{{Resource: rgA, Rules: []string{guard.RuleResidencyReplication},
		ExpiresOn: expires, Reason: "licence D-1187", ApprovedBy: "export.officer@contoso.com"}}
	h := newHarness(t, pol)
	h.observe(at(-5), outside(t, acctID))
	c := change(acctID, "corr-1", "al-1", alice)
	steps := []struct {
		name           string
		run            func() guard.Summary
		wantStatus     guard.Status
		wantLastSeen   time.Time
		wantTrigger    guard.Trigger
		wantAudit      []string
		wantExemptNote bool
	}{
		{"violation under the exemption", func() guard.Summary { return h.handle(c, t0) },
			guard.StatusExempt, t0, triggerOf(c), []string{"finding.exempt", "change"}, true},
		{"sweep before expiry", func() guard.Summary { return h.sweep(at(60)) },
			guard.StatusExempt, t0, triggerOf(c), nil, true},
		{"sweep a second before expiry", func() guard.Summary { return h.sweep(expires.Add(-time.Second)) },
			guard.StatusExempt, t0, triggerOf(c), nil, true},
		{"sweep at expiry", func() guard.Summary { return h.sweep(expires) },
			guard.StatusOpen, expires, sweepTrigger(expires), []string{"finding.open", "sweep"}, false},
		{"sweep after expiry", func() guard.Summary { return h.sweep(at(180)) },
			guard.StatusOpen, expires, sweepTrigger(expires), nil, false},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			before := len(h.audit())
			st.run()
			f := h.finding(acctID)
			if f == nil {
				t.Fatal("no finding stored")
			}
			if f.Status != st.wantStatus || !f.FirstSeen.Equal(t0) || !f.LastSeen.Equal(st.wantLastSeen) || f.ResolvedAt != nil {
				t.Errorf("finding status %s, firstSeen %s, lastSeen %s, resolvedAt %v; want %s, %s, %s, none",
					f.Status, f.FirstSeen, f.LastSeen, f.ResolvedAt, st.wantStatus, t0, st.wantLastSeen)
			}
			if diff := cmp.Diff(st.wantTrigger, f.Trigger); diff != "" {
				t.Errorf("trigger (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.wantAudit, h.auditKinds(before)); diff != "" {
				t.Errorf("audit kinds appended (-want +got):\n%s", diff)
			}
			if _, got := f.Evidence["exemption"]; got != st.wantExemptNote {
				t.Errorf("evidence has an exemption entry: %v, want %v", got, st.wantExemptNote)
			}
		})
		if !ok {
			break // later steps build on this one
		}
	}
}

// unreadable records an arm line ARM-as-replayed cannot turn into a resource
// (its type is not a string): a read of it fails with an error other than 404,
// as a 403, 429 or 500 from ARM would.
func (h *harness) unreadable(observedAt time.Time, id string) {
	h.t.Helper()
	h.armLine(map[string]any{"source": "arm", "observedAt": observedAt.Format(time.RFC3339Nano),
		"body": map[string]any{"id": id, "type": 5}})
}

// TestSweepGoesOnPastAReadFailure: a resource ARM cannot read does not stop the
// reconcile's re-check (or the sweep's, of expired exemptions) from going on
// with the others; the failure is still reported.
func TestSweepGoesOnPastAReadFailure(t *testing.T) {
	tests := []struct {
		name   string
		broken string // the account whose read fails
	}{
		{"failing account sorts first", "staaa"},
		{"failing account sorts last", "stzzz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			pol.Exemptions = []guard.Exemption{{Resource: accountID("stexpiring"), ExpiresOn: at(20), Reason: "r", ApprovedBy: "a"}}
			h := newHarness(t, pol)
			names := []string{"staaa", "stmmm", "stexpiring", "stzzz"}
			for _, n := range names {
				h.observe(at(-5), outside(t, accountID(n)))
				h.handle(change(accountID(n), "corr-"+n, "al-"+n, alice), t0)
			}
			for _, n := range names {
				switch {
				case n == tt.broken:
					h.unreadable(at(10), accountID(n))
				case n != "stexpiring":
					h.observe(at(10), inside(t, accountID(n))) // fixed, with no event
				}
			}
			now := at(30)
			h.setClock(now)

			sum, err := h.p.RecheckOpen(h.ctx, now)

			if err == nil || !strings.Contains(err.Error(), tt.broken) {
				t.Errorf("RecheckOpen error = %v, want one naming %s", err, tt.broken)
			}
			if want := (guard.Summary{Verdicts: 3, Transitions: 3}); sum != want {
				t.Errorf("summary = %+v, want %+v", sum, want)
			}
			for _, n := range names {
				f := h.finding(accountID(n))
				want := guard.StatusResolved
				switch n {
				case tt.broken:
					want = guard.StatusOpen
				case "stexpiring":
					want = guard.StatusOpen // exemption expired at at(20)
				}
				if f.Status != want {
					t.Errorf("%s: status %s, want %s", n, f.Status, want)
				}
				if n == tt.broken && !f.LastSeen.Equal(t0) {
					t.Errorf("%s: lastSeen %s moved, want %s", n, f.LastSeen, t0)
				}
			}
		})
	}
}

// TestReaderFailureIsRetried: a read that fails (not a 404) makes Ingest fail,
// leaves the operation unmarked and nothing judged, so the redelivery judges it.
func TestReaderFailureIsRetried(t *testing.T) {
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.unreadable(at(-5), acctID)
	h.observe(at(5), outside(t, acctID))
	msg := alMessage(t, alRecord(acctID, writeOp, "Success", "corr-1", at(-1), alice))
	h.setClock(t0)

	if _, err := h.p.Ingest(h.ctx, guard.SourceEventHub, msg, t0); err == nil {
		t.Fatal("Ingest with a failing read: got no error, want one so that the host retries")
	}
	op := guard.Change{CorrelationID: "corr-1", ResourceID: acctID, Operation: writeOp}
	if h.processed(op) {
		t.Error("ledger marks the operation processed after a failed read")
	}
	if fs, recs := h.findings(), h.audit(); len(fs) != 0 || len(recs) != 0 {
		t.Errorf("after a failed read: findings %+v, audit %+v; want none", fs, recs)
	}

	if sum := h.ingest(guard.SourceEventHub, msg, at(10)); sum.Transitions != 1 {
		t.Errorf("redelivery summary = %+v, want 1 transition", sum)
	}
	if f := h.finding(acctID); f == nil || f.Status != guard.StatusOpen || !f.FirstSeen.Equal(at(10)) {
		t.Errorf("finding = %+v, want open at %s", f, at(10))
	}
	if !h.processed(op) {
		t.Error("ledger: operation not marked processed after the redelivery")
	}
}
