package remediate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// failAudit fails the first AppendAudit of a kind: a process that dies (or a
// store that fails) just before recording it.
type failAudit struct {
	guard.Store
	kind   string
	failed bool
}

func (s *failAudit) AppendAudit(ctx context.Context, r guard.AuditRecord) (guard.AuditRecord, error) {
	if r.Kind == s.kind && !s.failed {
		s.failed = true
		return guard.AuditRecord{}, errors.New("injected store failure")
	}
	return s.Store.AppendAudit(ctx, r)
}

// An outcome is recorded and told at least once whatever the point the
// process died at: before its record (the plan runs again, finds its write
// made, and records and tells it then), or after it and before the item was
// completed (the hook is told again; the notifications it enqueues have the
// IDs of the first time, kept once).
func TestOutcomeRecordedAndToldAcrossCrashes(t *testing.T) {
	t.Run("died before recording the outcome", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		var told []string
		e.ex.OnOutcome = func(_ context.Context, f guard.Finding) error {
			told = append(told, f.Remediation.Status)
			return nil
		}
		f := e.open(accountA)
		it := e.outbox()[0]
		e.ex.Store = &failAudit{Store: e.st, kind: "remediation.applied"}
		if err := e.ex.Send(context.Background(), it, t0); err == nil {
			t.Fatal("Send with the record failing: no error")
		}
		if got := e.finding(f.ID).Remediation.Status; got == "applied" {
			t.Errorf("the finding says applied though the trail does not")
		}
		if err := e.ex.Send(context.Background(), it, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if len(e.arm.Writes()) != 1 || e.finding(f.ID).Remediation.Status != "applied" ||
			e.auditKinds(f.ID)["remediation.applied"] != 1 || len(told) != 1 {
			t.Errorf("writes %d, status %q, audit %v, told %v", len(e.arm.Writes()), e.finding(f.ID).Remediation.Status, e.auditKinds(f.ID), told)
		}
	})
	t.Run("died after recording, before the item was completed", func(t *testing.T) {
		e := newEnv(t, guard.RemediationAuto, subA)
		e.observe(accountA, body(grsBody, accountA), t0.Add(-time.Hour))
		var at []any
		e.ex.OnOutcome = func(_ context.Context, f guard.Finding) error {
			rec, _ := f.Evidence["remediation"].(map[string]any)
			at = append(at, rec["at"])
			return nil
		}
		f := e.open(accountA)
		it := e.outbox()[0]
		if err := e.ex.Send(context.Background(), it, t0); err != nil {
			t.Fatal(err)
		}
		if err := e.ex.Send(context.Background(), it, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if len(e.arm.Writes()) != 1 || e.auditKinds(f.ID)["remediation.applied"] != 1 {
			t.Errorf("writes %d, audit %v", len(e.arm.Writes()), e.auditKinds(f.ID))
		}
		if len(at) != 2 || at[0] != at[1] || at[0] == nil {
			t.Errorf("hook told at %v, want twice with the time of the outcome", at)
		}
	})
}
