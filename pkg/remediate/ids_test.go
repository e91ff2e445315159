package remediate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// dotted names accountB's subscription once a URL is resolved, and starts with
// subA as text (issue 14 case 5).
const dotted = "/subscriptions/" + subA + "/resourceGroups/rg/../../../subscriptions/" + subB + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/itarb"

// TestScopeIsDecidedOnSegments: a plan whose IDs start with an allowed
// subscription as text but could name another is refused by the planner and,
// if one is in the outbox anyway (planned by an older version, or written by
// hand), by the executor: nothing is read or written.
func TestScopeIsDecidedOnSegments(t *testing.T) {
	t.Run("planner", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		f := e.open(dotted)
		if len(e.outbox()) != 0 {
			t.Fatalf("a plan for %s was enqueued", dotted)
		}
		e.dispatch()
		got := e.finding(f.ID)
		rec, _ := recordOf(got)
		if len(e.arm.Writes()) != 0 || got.Remediation.Status != "none" || rec.Outcome != "refused" || !strings.Contains(rec.Reason, "resource ID refused: dot segment") {
			t.Errorf("writes %v, status %q, record %+v; want refused for its dot segment", e.arm.Writes(), got.Remediation.Status, rec)
		}
	})
	for _, tt := range []struct{ name, target, read string }{
		{"executor, target", dotted, accountA},
		{"executor, read", accountA, dotted},
		{"executor, escaped", "/subscriptions/" + subA + "/resourceGroups/rg/%2e%2e/%2e%2e/%2e%2e/subscriptions/" + subB, accountA},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, guard.RemediationAuto, subA)
			e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
			f := e.open(accountA)
			// The plan in the outbox is rewritten as if planned without the check.
			items := e.outbox()
			if len(items) != 1 {
				t.Fatalf("outbox %+v", items)
			}
			p, _ := decodePlan(items[0].Payload)
			p.Action.Steps[0].Target, p.Action.Steps[0].Read = tt.target, tt.read
			items[0].ID += ":hand"
			items[0].Payload, _ = json.Marshal(p)
			if err := e.st.Complete(context.Background(), e.outbox()[0].Partition, e.outbox()[0].ID); err != nil {
				t.Fatal(err)
			}
			if err := e.st.Enqueue(context.Background(), items[0]); err != nil {
				t.Fatal(err)
			}
			e.dispatch()
			got := e.finding(f.ID)
			rec, _ := recordOf(got)
			if len(e.arm.Writes()) != 0 || rec.Outcome != "refused" || !strings.Contains(rec.Reason, "resource ID refused") {
				t.Errorf("writes %v, record %+v; want the plan refused", e.arm.Writes(), rec)
			}
		})
	}
}

// TestWriteNeedsThePlannedResource: the read just before the write must answer
// with the resource the plan names (case aside); an answer about another
// resource fails the plan, and nothing is written (DESIGN 3.6).
func TestWriteNeedsThePlannedResource(t *testing.T) {
	tests := []struct {
		name, answerID string
		wantWrite      bool
	}{
		{"same ID", accountA, true},
		{"same ID in upper case", strings.ToUpper(accountA), true},
		{"another account", accountB, false},
		{"the account's parent", "/subscriptions/" + subA + "/resourceGroups/rg", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, guard.RemediationAuto, subA, subB)
			f := e.open(accountA)
			// ARM answers the GET of accountA with this body.
			e.observe(accountA, body(grsBody, tt.answerID), t0.Add(-time.Hour))
			e.dispatch()
			got := e.finding(f.ID)
			rec, _ := recordOf(got)
			if tt.wantWrite {
				if len(e.arm.Writes()) != 1 || got.Remediation.Status != "applied" {
					t.Errorf("writes %v, status %q; want applied", e.arm.Writes(), got.Remediation.Status)
				}
				return
			}
			if len(e.arm.Writes()) != 0 {
				t.Fatalf("written: %+v", e.arm.Writes())
			}
			if got.Remediation.Status != "failed" || rec.Outcome != "failed" || !strings.Contains(rec.Reason, "with another resource") {
				t.Errorf("status %q, record %+v; want failed, saying ARM answered with another resource", got.Remediation.Status, rec)
			}
			if k := e.auditKinds(f.ID); k["remediation.applying"] != 0 || k["remediation.failed"] != 1 {
				t.Errorf("audit %v", k)
			}
		})
	}
}
