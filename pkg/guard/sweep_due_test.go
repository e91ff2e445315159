package guard_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// TestSweepReadsOnlyWhatIsDue: the sweep reads from ARM the due items and
// nothing else. An open finding whose resource was fixed with no event stays
// open until the reconcile; an exempt finding still covered costs no read; one
// whose exemption expired, or left the policy, is re-judged from ARM.
func TestSweepReadsOnlyWhatIsDue(t *testing.T) {
	tests := []struct {
		name       string
		exempt     bool
		later      func(h *harness, pol *guard.Policy) // at(10), with no event
		wantReads  int
		wantStatus guard.Status
	}{
		{"open, fixed with no event: the reconcile's", false,
			func(h *harness, _ *guard.Policy) { h.observe(at(10), inside(h.t, acctID)) }, 0, guard.StatusOpen},
		{"open, unchanged", false, func(*harness, *guard.Policy) {}, 0, guard.StatusOpen},
		{"exempt, exemption still in force", true, func(*harness, *guard.Policy) {}, 0, guard.StatusExempt},
		{"exempt, fixed with no event, exemption in force", true,
			func(h *harness, _ *guard.Policy) { h.observe(at(10), inside(h.t, acctID)) }, 0, guard.StatusExempt},
		{"exempt, exemption expired", true,
			func(_ *harness, pol *guard.Policy) { pol.Exemptions[0].ExpiresOn = at(20) }, 1, guard.StatusOpen},
		{"exempt, exemption removed from the policy", true,
			func(_ *harness, pol *guard.Policy) { pol.Exemptions = nil }, 1, guard.StatusOpen},
		{"exempt, exemption expired, fixed with no event", true, func(h *harness, pol *guard.Policy) {
			pol.Exemptions[0].ExpiresOn = at(20)
			h.observe(at(10), inside(h.t, acctID))
		}, 1, guard.StatusResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			if tt.exempt {
				pol.Exemptions = []guard.Exemption{{Resource: rgA, ExpiresOn: at(600), Reason: "licence D-1187", ApprovedBy: "export.officer@contoso.com"}}
			}
			h := newHarness(t, pol)
			h.observe(at(-5), outside(t, acctID))
			h.handle(change(acctID, "corr-1", "al-1", alice), t0)
			tt.later(h, pol)
			reads := h.reader.total()

			h.sweep(at(30))

			if got := h.reader.total() - reads; got != tt.wantReads {
				t.Errorf("the sweep read ARM %d times, want %d", got, tt.wantReads)
			}
			if f := h.finding(acctID); f == nil || f.Status != tt.wantStatus {
				t.Errorf("finding = %+v, want %s", f, tt.wantStatus)
			}
		})
	}
}

// TestSweepOverManyOpenFindingsReadsTheDueGrants is issue 16's count: a sweep
// over 5,000 open findings with 3 grants due reads 3 resources (the grants'
// VMs), and none of the open findings' resources.
func TestSweepOverManyOpenFindingsReadsTheDueGrants(t *testing.T) {
	const open, due, notDue = 5000, 3, 2
	pol := usPolicy(guard.ModeAlert)
	pol.Rules[guard.RuleJITOverstay] = guard.RulePolicy{Mode: guard.ModeAlert}
	h := newHarness(t, pol)
	for i := range open {
		seed(t, h, guard.Finding{Rule: guard.RuleResidencyReplication, Status: guard.StatusOpen,
			ResourceID: accountID(fmt.Sprintf("st%05d", i)), SubscriptionID: subA, FirstSeen: at(-60), LastSeen: at(-60)})
	}
	var vms []string
	for i := range due + notDue {
		vm := rgA + fmt.Sprintf("/providers/Microsoft.Compute/virtualMachines/vm-%d", i)
		end := at(5) // due at the sweep
		if i >= due {
			end = at(60)
		}
		g := guard.Grant{ID: fmt.Sprintf("jit-%d", i), Rule: guard.RuleJITOverstay, Kind: "jit", ResourceID: vm,
			Start: at(-60), End: end}
		if err := h.store.PutGrant(h.ctx, g); err != nil {
			t.Fatal(err)
		}
		h.gone(at(-1), vm) // the VM is gone: the grant with it
		vms = append(vms, vm)
	}

	h.sweep(at(10))

	if got := h.reader.total(); got != due {
		t.Errorf("the sweep read ARM %d times, want %d (the due grants' VMs)", got, due)
	}
	for i, vm := range vms {
		if got, want := h.reader.count(vm), min(1, max(0, due-i)); got != want {
			t.Errorf("%s read %d times, want %d", vm, got, want)
		}
	}
	left, err := h.store.DueGrants(h.ctx, at(100))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range left {
		ids = append(ids, g.ID)
	}
	if want := []string{"jit-3", "jit-4"}; !slices.Equal(ids, want) {
		t.Errorf("grants kept = %v, want %v (the due ones checked and forgotten)", ids, want)
	}
}

// TestReconcile judges states read in bulk (as Resource Graph rows are): a
// row may open a finding with no ARM read; a row that would resolve one is
// confirmed with ARM, whose answer wins; a row out of scope, or of a type no
// rule judges, is skipped.
func TestReconcile(t *testing.T) {
	type step struct {
		row        func(t *testing.T, id string) []byte
		arm        func(h *harness, id string) // what ARM says before the reconcile
		openBefore bool                        // a finding is open before it
		wantStatus guard.Status                // "" for no finding
		wantReads  int
		wantSum    guard.Summary
	}
	none := func(*harness, string) {}
	tests := []struct {
		name string
		step
	}{
		{"violating row, never seen: opens with no read", step{outside, none, false, guard.StatusOpen, 0,
			guard.Summary{Verdicts: 1, Transitions: 1}}},
		{"violating row, finding open: stays open with no read", step{outside, none, true, guard.StatusOpen, 0,
			guard.Summary{Verdicts: 1}}},
		{"compliant row, ARM agrees: resolves", step{inside, func(h *harness, id string) { h.observe(at(8), inside(h.t, id)) }, true,
			guard.StatusResolved, 1, guard.Summary{Verdicts: 2, Transitions: 1, Unconfirmed: 1}}},
		{"compliant row, ARM says otherwise: stays open", step{inside, func(h *harness, id string) { h.observe(at(8), outside(h.t, id)) }, true,
			guard.StatusOpen, 1, guard.Summary{Verdicts: 2, Unconfirmed: 1}}},
		{"compliant row, ARM answers 404: resolves", step{inside, func(h *harness, id string) { h.gone(at(8), id) }, true,
			guard.StatusResolved, 1, guard.Summary{Verdicts: 1, Transitions: 1, Unconfirmed: 1}}},
		{"compliant row, never seen: nothing", step{inside, none, false, "", 0, guard.Summary{Verdicts: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, usPolicy(guard.ModeAlert))
			if tt.openBefore {
				h.observe(at(-5), outside(t, acctID))
				h.handle(change(acctID, "corr-1", "al-1", alice), t0)
			}
			tt.arm(h, acctID)
			row, err := guard.NewResource(tt.row(t, acctID), at(9))
			if err != nil {
				t.Fatal(err)
			}
			reads := h.reader.total()
			now := at(10)
			h.setClock(now)

			sum, err := h.p.Reconcile(h.ctx, now, slices.Values([]*guard.Resource{row}))
			if err != nil {
				t.Fatal(err)
			}

			if sum != tt.wantSum {
				t.Errorf("summary = %+v, want %+v", sum, tt.wantSum)
			}
			if got := h.reader.total() - reads; got != tt.wantReads {
				t.Errorf("ARM reads = %d, want %d", got, tt.wantReads)
			}
			f := h.finding(acctID)
			switch {
			case tt.wantStatus == "" && f != nil:
				t.Errorf("finding = %+v, want none", f)
			case tt.wantStatus != "" && (f == nil || f.Status != tt.wantStatus):
				t.Errorf("finding = %+v, want %s", f, tt.wantStatus)
			case f != nil && f.Status == guard.StatusResolved && f.Trigger != reconcileTrigger(now):
				t.Errorf("trigger = %+v, want the reconcile's", f.Trigger)
			}
			if known, err := h.store.GetResource(h.ctx, acctID); err == nil && known.FromEvent && tt.openBefore {
				t.Errorf("last known state %+v is the row's; want the one ARM answered kept", known)
			}
		})
	}
}

// TestReconcileSkipsWhatItMustNotJudge: a row of a subscription out of scope,
// or of a type no rule judges, is counted skipped and judged by nothing.
func TestReconcileSkipsWhatItMustNotJudge(t *testing.T) {
	pol := usPolicy(guard.ModeAlert)
	pol.Scope.Subscriptions = []string{subB}
	h := newHarness(t, pol)
	vnet, err := guard.NewResource([]byte(`{"id":"/subscriptions/`+subB+`/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v","type":"Microsoft.Network/virtualNetworks","location":"westeurope"}`), at(1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := guard.NewResource(outside(t, acctID), at(1))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.p.Reconcile(h.ctx, at(2), slices.Values([]*guard.Resource{out, vnet, nil}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (guard.Summary{Skipped: 3}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	if fs := h.findings(); len(fs) != 0 {
		t.Errorf("findings = %+v, want none", fs)
	}
}

// TestRecheck re-judges the resources named, from ARM: one the store knows
// that ARM answers 404 for is settled; one ARM has no answer about changes
// nothing; one not named is not read.
func TestRecheck(t *testing.T) {
	gone, other := accountID("stgone"), accountID("stother")
	h := newHarness(t, usPolicy(guard.ModeAlert))
	for _, id := range []string{gone, other} {
		h.observe(at(-5), outside(t, id))
		h.handle(change(id, "corr-"+id, "al-"+id, alice), t0)
	}
	h.gone(at(5), gone)
	now := at(10)
	h.setClock(now)
	never := accountID("stnever") // no arm line: ARM-as-replayed has no answer
	reads := h.reader.count(other)

	sum, err := h.p.Recheck(h.ctx, now, []string{gone, never})
	if err != nil {
		t.Fatal(err)
	}
	if want := (guard.Summary{Transitions: 1}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	if f := h.finding(gone); f.Status != guard.StatusResolved || f.Trigger != reconcileTrigger(now) {
		t.Errorf("deleted account's finding = %+v, want resolved by the reconcile", f)
	}
	if f := h.finding(other); f.Status != guard.StatusOpen || h.reader.count(other) != reads {
		t.Errorf("account not named = %s, read %d times; want open, not read", f.Status, h.reader.count(other)-reads)
	}
}

// TestRecheckOpenAmong: the replay's reconcile re-checks only the resources
// with a finding open or exempt among those whose answer changed (named, or
// a child of theirs named), one read each; a resource with an open finding
// that is not among them is not read, and a changed one without an open
// finding is not read either.
func TestRecheckOpenAmong(t *testing.T) {
	fixed, still, clean := accountID("stfixed"), accountID("ststill"), accountID("stclean")
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, fixed))
	h.observe(at(-5), outside(t, still))
	h.observe(at(-5), inside(t, clean))
	for _, id := range []string{fixed, still, clean} {
		h.handle(change(id, "corr-"+id, "al-"+id, alice), t0)
	}
	h.observe(at(10), inside(t, fixed)) // fixed with no event
	now := at(20)
	h.setClock(now)
	before := map[string]int{fixed: h.reader.count(fixed), still: h.reader.count(still), clean: h.reader.count(clean)}

	// The session changed stfixed (through a child line) and stclean.
	sum, err := h.p.RecheckOpenAmong(h.ctx, now, []string{fixed + "/blobServices/default", clean})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Transitions != 1 || h.finding(fixed).Status != guard.StatusResolved {
		t.Errorf("summary %+v, fixed account %s; want it resolved by the reconcile", sum, h.finding(fixed).Status)
	}
	for id, want := range map[string]int{fixed: 1, still: 0, clean: 0} {
		if got := h.reader.count(id) - before[id]; got != want {
			t.Errorf("%s read %d times, want %d", id, got, want)
		}
	}
	if f := h.finding(still); f.Status != guard.StatusOpen {
		t.Errorf("unchanged account = %s, want open", f.Status)
	}
}
