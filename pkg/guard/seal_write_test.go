package guard_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// seals returns the seal chain, verified, and each seal's data.
func (h *harness) seals() ([]guard.AuditRecord, []guard.SealData) {
	h.t.Helper()
	recs, err := h.store.ListAudit(h.ctx, guard.SealPartition, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := guard.VerifyAudit(recs); err != nil {
		h.t.Fatalf("seal chain: %v", err)
	}
	var ds []guard.SealData
	for _, r := range recs {
		var d guard.SealData
		if r.Kind != guard.SealKind {
			h.t.Errorf("record %d of the seal chain is a %q", r.Seq, r.Kind)
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			h.t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return recs, ds
}

// heads returns the heads of the partitions' chains, the seals' aside.
func (h *harness) heads() []guard.AuditHead {
	h.t.Helper()
	hs, err := h.store.AuditHeads(h.ctx, t0.AddDate(-1, 0, 0))
	if err != nil {
		h.t.Fatal(err)
	}
	var out []guard.AuditHead
	for _, hd := range hs {
		if hd.Partition != guard.SealPartition {
			out = append(out, hd)
		}
	}
	return out
}

// The sweep seals the heads of the partitions whose chains moved since the
// last seal, and only when some did: the first seal every chain, the next only
// those written since, none when nothing was.
func TestSweepSealsTheHeadsThatMoved(t *testing.T) {
	a, b := accountID("sta"), accountID("stb")
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, a))
	h.observe(at(-5), inside(t, b))
	h.handle(change(a, "corr-a", "al-a", alice), at(0))
	h.handle(change(b, "corr-b", "al-b", alice), at(1))

	steps := []struct {
		name  string
		do    func()
		sweep int // minutes
		want  []string
	}{
		{"first sweep: every chain", func() {}, 10, []string{a, b}},
		{"nothing written since", func() {}, 15, nil},
		{"a change of b since", func() {
			h.observe(at(16), outside(t, b))
			h.handle(change(b, "corr-b2", "al-b2", bob), at(17))
		}, 20, []string{b}},
		{"a's finding resolved by the reconcile since", func() { h.observe(at(21), inside(t, a)); h.recheckOpen(at(22)) }, 25, []string{a}},
	}
	var sealed int
	for _, st := range steps {
		st.do()
		h.sweep(at(st.sweep))
		recs, ds := h.seals()
		var want []guard.AuditHead
		for _, id := range st.want {
			for _, hd := range h.heads() {
				if hd.Partition == guard.PartitionOf(id) {
					want = append(want, hd)
				}
			}
		}
		if len(want) == 0 {
			if len(recs) != sealed {
				t.Errorf("%s: %d seals, want still %d", st.name, len(recs), sealed)
			}
			continue
		}
		sealed++
		if len(recs) != sealed {
			t.Fatalf("%s: %d seals, want %d", st.name, len(recs), sealed)
		}
		last := recs[len(recs)-1]
		if !last.At.Equal(at(st.sweep)) {
			t.Errorf("%s: seal at %s, want the sweep's time %s", st.name, last.At, at(st.sweep))
		}
		if diff := cmp.Diff(guard.NewSealData(want), ds[len(ds)-1]); diff != "" {
			t.Errorf("%s: seal (-want +got):\n%s", st.name, diff)
		}
	}
}

// A head that moved inside the margin before the last seal (a record stamped
// earlier than the seal but written after it read the heads) is sealed by
// the next sweep; one sealed as it is now is not sealed again.
func TestSealTakesTheMarginBeforeTheLastSeal(t *testing.T) {
	a, b := accountID("sta"), accountID("stb")
	h := newHarness(t, usPolicy(guard.ModeAlert))
	h.observe(at(-5), outside(t, a))
	h.observe(at(-5), outside(t, b))
	h.handle(change(a, "corr-a", "al-a", alice), at(0))
	h.sweep(at(10))
	// b's change is stamped before the seal at 10 (a late instance clock).
	h.handle(change(b, "corr-b", "al-b", alice), at(8))
	h.sweep(at(11))
	_, ds := h.seals()
	if len(ds) != 2 {
		t.Fatalf("%d seals, want 2", len(ds))
	}
	var want guard.AuditHead
	for _, hd := range h.heads() {
		if hd.Partition == guard.PartitionOf(b) {
			want = hd
		}
	}
	if diff := cmp.Diff(guard.NewSealData([]guard.AuditHead{want}), ds[1]); diff != "" {
		t.Errorf("second seal (-want +got):\n%s", diff)
	}
}
