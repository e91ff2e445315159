package guard_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// heardCounter counts the writes of a subscription's last heard state.
type heardCounter struct {
	guard.Store
	writes atomic.Int32
}

func (s *heardCounter) PutResource(ctx context.Context, r *guard.Resource) error {
	if r.Type == guard.TypeHeard {
		s.writes.Add(1)
	}
	return s.Store.PutResource(ctx, r)
}

// What keeping "last heard" costs: at most one write per subscription per
// guard.HeardEvery in a process, only for subscriptions scope names, only for
// Activity Log deliveries, and none with the rule off.
func TestHeardIsWrittenAtMostOncePerInterval(t *testing.T) {
	scoped := func(mode string, subs ...string) *guard.Policy {
		p := usPolicy(guard.ModeAlert)
		p.Scope.Subscriptions = subs
		p.Rules[guard.RuleMonitoringActivityLog] = guard.RulePolicy{Mode: mode}
		return p
	}
	for _, tc := range []struct {
		name    string
		pol     *guard.Policy
		src     guard.Source
		minutes []int
		want    int32
	}{
		{"one a minute for a quarter of an hour", scoped(guard.ModeAlert, subA), guard.SourceEventHub, []int{0, 1, 2, 5, 9, 14}, 1},
		{"every quarter of an hour", scoped(guard.ModeAlert, subA), guard.SourceEventHub, []int{0, 15, 30, 45}, 4},
		{"just short of the interval", scoped(guard.ModeAlert, subA), guard.SourceEventHub, []int{0, 14, 28, 29}, 2},
		{"a subscription out of scope", scoped(guard.ModeAlert, subB), guard.SourceEventHub, []int{0, 15, 30}, 0},
		{"an empty scope judges none", scoped(guard.ModeAlert), guard.SourceEventHub, []int{0, 15, 30}, 0},
		{"the rule off", scoped(guard.ModeOff, subA), guard.SourceEventHub, []int{0, 15, 30}, 0},
		{"Event Grid is not the Activity Log", scoped(guard.ModeAlert, subA), guard.SourceEventGrid, []int{0, 15, 30}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.pol)
			st := &heardCounter{Store: h.store}
			h.p.Store = st
			for i, m := range tc.minutes {
				when := at(m)
				corr := "0c4d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e" + string(rune('a'+i)) + "f"
				var body []byte
				if tc.src == guard.SourceEventHub {
					body = alMessage(t, alRecord(acctID, writeOp, "Success", corr, when, alice))
				} else {
					body = egDelivery(t, egEvent(acctID, "Microsoft.Resources.ResourceWriteSuccess", writeOp, corr, corr, when, alice))
				}
				h.ingest(tc.src, body, when)
			}
			if got := st.writes.Load(); got != tc.want {
				t.Errorf("%d writes of when %s was last heard from, want %d", got, subA, tc.want)
			}
		})
	}
}

// The sweep opens a silence finding and never resolves one: only records
// arriving do. A finding already open costs the sweep no write.
func TestSilenceOpensBySweepAndResolvesByRecords(t *testing.T) {
	pol := usPolicy(guard.ModeAlert)
	pol.Scope.Subscriptions = []string{subA}
	pol.Rules[guard.RuleMonitoringActivityLog] = guard.RulePolicy{Mode: guard.ModeAlert, Silence: guard.Duration(time.Hour)}
	h := newHarness(t, pol)
	silence := func() *guard.Finding {
		for _, f := range h.findings() {
			if f.Rule == guard.RuleMonitoringActivityLog {
				return &f
			}
		}
		return nil
	}
	h.ingest(guard.SourceEventHub, alMessage(t, alRecord(acctID, writeOp, "Success", "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a", at(0), alice)), at(0))
	h.sweep(at(70)) // within silence + HeardEvery
	if f := silence(); f != nil {
		t.Fatalf("silent for 70 minutes (1h allowed, 15m slack): finding %s", f.Status)
	}
	h.sweep(at(80))
	if f := silence(); f == nil || f.Status != guard.StatusOpen || f.ResourceID != "/subscriptions/"+subA {
		t.Fatalf("silent for 80 minutes: finding %+v, want open on the subscription", f)
	}
	before := len(h.records())
	h.sweep(at(85))
	if got := len(h.records()); got != before {
		t.Errorf("a sweep over a finding already open wrote %d audit records", got-before)
	}
	h.ingest(guard.SourceEventHub, alMessage(t, alRecord(acctID, writeOp, "Success", "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b", at(90), alice)), at(90))
	if f := silence(); f == nil || f.Status != guard.StatusResolved || f.Trigger.Source != guard.SourceEventHub {
		t.Fatalf("records arrived again: finding %+v, want resolved by the Activity Log", f)
	}
}
