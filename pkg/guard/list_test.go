package guard_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// listingRule asks for lists and keeps what it was given.
type listingRule struct {
	id  string
	qs  []guard.ListQuery
	got *[]map[guard.ListQuery][]*guard.Resource
}

func (r listingRule) ID() string                              { return r.id }
func (listingRule) Applies(string) bool                       { return true }
func (r listingRule) Lists(*guard.Resource) []guard.ListQuery { return r.qs }
func (r listingRule) Evaluate(in guard.Input) []guard.Verdict {
	*r.got = append(*r.got, in.Listed)
	return nil
}

// listingReader is the replay ARM with a List that counts, and fails as told.
type listingReader struct {
	*countingReader
	mu    sync.Mutex
	lists int
	fail  error
}

func (r *listingReader) List(ctx context.Context, q guard.ListQuery) ([]*guard.Resource, error) {
	r.mu.Lock()
	r.lists++
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return r.arm.List(ctx, q)
}

// The pipeline reads the lists a rule asks for through its Reader, once per
// delivery however many rules ask, never outside the policy's scope, and
// judges without a list it has no answer for.
func TestPipelineGathersLists(t *testing.T) {
	const instType = "Microsoft.Authorization/roleAssignmentScheduleInstances"
	schedule := rgA + "/providers/Microsoft.Authorization/roleAssignmentSchedules/s1"
	inst := rgA + "/providers/Microsoft.Authorization/roleAssignmentScheduleInstances/i1"
	inScope := guard.ListQuery{Scope: rgA, Type: instType, Property: "roleAssignmentScheduleId", Equals: schedule}
	outOfScope := guard.ListQuery{Scope: "/subscriptions/" + subB, Type: instType, Property: "roleAssignmentScheduleId", Equals: schedule}
	neverSeen := guard.ListQuery{Scope: rgA, Type: "Microsoft.Authorization/roleEligibilityScheduleInstances", Property: "x", Equals: "y"}
	tests := []struct {
		name      string
		lister    bool
		fail      error
		wantLists int
		wantErr   bool
		want      map[guard.ListQuery]int // listed, by how many resources; absent: not listed
	}{
		// The list ARM answered is read once; the one it has no answer for,
		// by each rule.
		{name: "listed once for two rules", lister: true, wantLists: 3, want: map[guard.ListQuery]int{inScope: 1}},
		{name: "a reader that cannot list", lister: false, want: map[guard.ListQuery]int{}},
		{name: "no answer", lister: true, fail: fmt.Errorf("x: %w", guard.ErrUnknown), wantLists: 4, want: map[guard.ListQuery]int{}},
		{name: "list refused", lister: true, fail: fmt.Errorf("x: %w", guard.ErrUnsupported), wantLists: 4, want: map[guard.ListQuery]int{}},
		{name: "scope gone", lister: true, fail: fmt.Errorf("x: %w", guard.ErrNotFound), wantLists: 2, want: map[guard.ListQuery]int{inScope: 0, neverSeen: 0}},
		{name: "ARM failing", lister: true, fail: errors.New("503 Service Unavailable"), wantLists: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := usPolicy(guard.ModeAlert)
			pol.Scope.Subscriptions = []string{subA}
			pol.Rules[guard.RuleJITWindow] = guard.RulePolicy{Mode: guard.ModeAlert}
			pol.Rules[guard.RuleUnscreenedPrincipal] = guard.RulePolicy{Mode: guard.ModeAlert}
			h := newHarness(t, pol)
			var got []map[guard.ListQuery][]*guard.Resource
			qs := []guard.ListQuery{inScope, outOfScope, neverSeen}
			h.p.Rules = []guard.Rule{listingRule{guard.RuleJITWindow, qs, &got}, listingRule{guard.RuleUnscreenedPrincipal, qs, &got}}
			lr := &listingReader{countingReader: h.reader, fail: tt.fail}
			if tt.lister {
				h.p.Reader = lr
			}
			h.observe(at(0), outside(t, acctID))
			h.observe(at(0), []byte(`{"id":"`+inst+`","type":"`+instType+`","properties":{"roleAssignmentScheduleId":"`+schedule+`"}}`))
			h.setClock(at(1))
			_, err := h.p.Ingest(h.ctx, guard.SourceEventHub, alMessage(t, alRecord(acctID, writeOp, "Success", "c1", at(0), alice)), at(1))
			if tt.wantErr != (err != nil) {
				t.Fatalf("Ingest: %v, want error %v", err, tt.wantErr)
			}
			if lr.lists != tt.wantLists {
				t.Errorf("%d list reads, want %d (the out-of-scope one never)", lr.lists, tt.wantLists)
			}
			if tt.wantErr {
				return
			}
			if len(got) != 2 {
				t.Fatalf("rules judged %d times, want 2", len(got))
			}
			for _, listed := range got {
				if len(listed) != len(tt.want) {
					t.Errorf("listed %v, want %v", listed, tt.want)
				}
				for q, n := range tt.want {
					if rs, ok := listed[q]; !ok || len(rs) != n {
						t.Errorf("%s: %d listed (%v), want %d", q, len(rs), ok, n)
					}
				}
			}
		})
	}
}
