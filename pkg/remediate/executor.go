package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Executor carries out the plans the dispatcher hands it (see the package doc):
// the guard.Sender for Kind "remediate".
type Executor struct {
	Store  guard.Store
	Policy *guard.Policy // the policy in force now: mode and scope are checked again before every write
	Reader guard.ResourceReader
	Writer Writer
	Log    *slog.Logger
	// MaxAttempts is how many attempts a plan gets before it fails; it must not
	// be more than the dispatcher's. DefaultMaxAttempts when 0.
	MaxAttempts int
	// OnOutcome, when set, is told of each finding whose remediation was applied
	// or failed (after the store has it). Its error is logged, never retried:
	// the remediation itself is done. Notifications may hook in here.
	OnOutcome func(ctx context.Context, f guard.Finding) error

	mu sync.Mutex
}

var _ guard.Sender = (*Executor)(nil)

func (e *Executor) log() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// stepResult is one step as it went, for the audit trail.
type stepResult struct {
	Method  string          `json:"method"`
	Target  string          `json:"target"`
	Body    json.RawMessage `json:"body,omitempty"`
	Outcome string          `json:"outcome"` // written, not-needed
	Reason  string          `json:"reason,omitempty"`
	Before  *guard.Resource `json:"before"`
	After   *guard.Resource `json:"after"`
}

// Send implements guard.Sender: it runs one plan. A nil error completes the
// item (applied, not needed, or closed); guard.Permanent fails it with the
// reason; any other error is retried with backoff.
func (e *Executor) Send(ctx context.Context, it guard.OutboxItem, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now = now.UTC()
	p, err := decodePlan(it.Payload)
	if err != nil {
		return guard.Permanent(fmt.Errorf("remediate: item %s: plan unreadable: %w", it.ID, err))
	}
	if p.ID == "" {
		p.ID = it.ID
	}
	log := e.log().With("itemId", it.ID, "findingId", p.FindingID, "action", p.Action.Type, "attempt", it.Attempts+1)

	f, err := e.Store.GetFinding(ctx, p.FindingID)
	switch {
	case errors.Is(err, guard.ErrNotFound):
		log.Info("remediation cancelled: the finding is gone")
		return e.audit(ctx, now, "remediation.cancelled", p, map[string]any{"reason": "the finding no longer exists"})
	case err != nil:
		return fmt.Errorf("remediate: read finding %s: %w", p.FindingID, err)
	}
	current := f.Status == guard.StatusOpen && sameTrigger(f.Trigger, p.Trigger)

	if p.awaiting() {
		// Due only at its approval deadline (or run early by hand).
		switch {
		case !current:
			log.Info("remediation cancelled: the finding moved on before anyone approved")
			return e.audit(ctx, now, "remediation.cancelled", p, map[string]any{"reason": "finding is " + string(f.Status) + " now, or reopened since the plan"})
		case f.Remediation.Status != "awaiting-approval":
			// Approved (the approval's twin item carries it on) or decided otherwise.
			return nil
		case now.Before(p.ApproveBy):
			return guard.RetryAfter(errors.New("awaiting approval"), p.ApproveBy.Sub(now))
		}
		reason := "nobody approved the plan by " + p.ApproveBy.Format(time.RFC3339)
		log.Info("remediation expired unapproved")
		return e.finish(ctx, now, p, "none", "remediation.expired", "expired", reason, nil)
	}
	if !current {
		log.Info("remediation cancelled: the finding is no longer open from this transition", "status", f.Status)
		return e.audit(ctx, now, "remediation.cancelled", p, map[string]any{"reason": "finding is " + string(f.Status) + " now, or reopened since the plan"})
	}
	if f.Remediation.Status == "applied" {
		// Ran before a crash, and recorded: nothing to write again. The process
		// may have died before the outcome's notifications were all enqueued:
		// the hook enqueues them again, under the same IDs, kept once.
		if r, ok := recordOf(f); ok && r.PlanID == p.ID && r.Outcome == "applied" && e.OnOutcome != nil {
			if herr := e.OnOutcome(ctx, *f); herr != nil {
				log.Warn("remediation outcome hook failed", "error", herr.Error())
			}
		}
		return nil
	}
	if p.Approval != nil && !now.Before(p.Approval.ExpiresAt) {
		reason := fmt.Sprintf("the approval by %s expired at %s before the action could run", p.Approval.Approver, p.Approval.ExpiresAt.Format(time.RFC3339))
		return e.finish(ctx, now, p, "failed", "remediation.failed", "failed", reason, nil)
	}
	if reason := e.refusal(p); reason != "" {
		log.Warn("remediation refused", "reason", reason)
		return e.finish(ctx, now, p, "none", "remediation.refused", "refused", reason, nil)
	}
	if e.Reader == nil || e.Writer == nil {
		return errors.New("remediate: no ARM reader and writer configured; the plan waits")
	}

	var results []stepResult
	wrote := false
	for _, s := range p.Action.Steps {
		before, err := e.read(ctx, s.Read)
		if err != nil {
			return e.attemptFailed(ctx, now, p, it, results, fmt.Errorf("read %s: %w", s.Read, err))
		}
		if before != nil && !guard.SameID(before.ID, s.Read) {
			// DESIGN 3.6: the resource ARM returned must be the one planned.
			why := "ARM answered the read of " + s.Read + " with another resource: nothing was written"
			log.Warn("remediation refused: ARM returned another resource", "read", s.Read)
			results = append(results, stepResult{Method: s.Method, Target: s.Target, Outcome: "refused", Reason: why, Before: before})
			return e.finish(ctx, now, p, "failed", "remediation.failed", "failed", why, results)
		}
		state, body, why := checkStep(p.Action, s, before)
		switch state {
		case stateDone:
			results = append(results, stepResult{Method: s.Method, Target: s.Target, Outcome: "not-needed", Reason: why, Before: before, After: before})
			continue
		case stateChanged:
			results = append(results, stepResult{Method: s.Method, Target: s.Target, Outcome: "refused", Reason: why, Before: before})
			return e.finish(ctx, now, p, "failed", "remediation.failed", "failed", "the resource changed since the plan: "+why, results)
		}
		if err := e.markApplying(ctx, now, p, s, body, before); err != nil {
			return err
		}
		resp, err := e.write(ctx, s, body)
		if err != nil {
			return e.attemptFailed(ctx, now, p, it, results, fmt.Errorf("%s %s: %w", s.Method, s.Target, err))
		}
		after, err := e.read(ctx, s.Read)
		if err != nil {
			after = resp // the write's answer, when the read back fails
		}
		results = append(results, stepResult{Method: s.Method, Target: s.Target, Body: json.RawMessage(body), Outcome: "written", Before: before, After: after})
		wrote = true
	}
	if !wrote {
		// Nothing left to write. If this plan's write was already made (a crash
		// between the write and its record), it is applied; otherwise someone
		// else put it right.
		if r, ok := recordOf(f); ok && r.PlanID == p.ID && r.Outcome == "applying" {
			log.Info("remediation found applied by an earlier attempt")
			return e.finish(ctx, now, p, "applied", "remediation.applied", "applied", "written by an earlier attempt; the resource is in the desired state", results)
		}
		log.Info("remediation not needed: the resource is already in the desired state")
		return e.finish(ctx, now, p, "none", "remediation.not-needed", "not-needed", "the resource was already in the desired state", results)
	}
	log.Info("remediation applied")
	return e.finish(ctx, now, p, "applied", "remediation.applied", "applied", "", results)
}

// refusal says why the plan may not run under the policy in force now, or "".
func (e *Executor) refusal(p *Plan) string {
	pol := e.Policy
	if pol == nil {
		return "no policy"
	}
	if m := pol.RuleMode(p.Rule); m != guard.ModeRemediate {
		return fmt.Sprintf("rule %s is in mode %s now, not remediate: nothing is written", p.Rule, m)
	}
	switch m := pol.Remediation.Mode; m {
	case guard.RemediationAuto:
	case guard.RemediationApprove:
		if p.Approval == nil {
			return "the policy's remediation mode is approve now, and this plan was not approved"
		}
	default:
		return fmt.Sprintf("remediation.mode is %s now: nothing is written", firstNonEmpty(m, "off"))
	}
	if _, always := alwaysApprove[p.Action.Type]; always && p.Approval == nil {
		return "this action needs an approval and has none"
	}
	if ok, why := writeScope(pol, p.targets()...); !ok {
		return why
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// read reads a resource; nil (and no error) when ARM says 404.
func (e *Executor) read(ctx context.Context, id string) (*guard.Resource, error) {
	r, err := e.Reader.ReadResource(ctx, id)
	if errors.Is(err, guard.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r != nil && r.Deleted {
		return nil, nil
	}
	return r, nil
}

func (e *Executor) write(ctx context.Context, s Step, body []byte) (*guard.Resource, error) {
	switch strings.ToUpper(s.Method) {
	case http.MethodPatch:
		return e.Writer.Patch(ctx, s.Target, body)
	case http.MethodPut:
		return e.Writer.Put(ctx, s.Target, body)
	case http.MethodDelete:
		return nil, e.Writer.Delete(ctx, s.Target)
	}
	return nil, guard.Permanent(fmt.Errorf("unknown method %q", s.Method))
}

// markApplying records the intent before a write: in the trail, and on the
// finding, so that a crash between the write and its record is told apart from
// a fix someone else made.
func (e *Executor) markApplying(ctx context.Context, now time.Time, p *Plan, s Step, body []byte, before *guard.Resource) error {
	if err := e.audit(ctx, now, "remediation.applying", p, map[string]any{
		"step": map[string]any{"method": s.Method, "target": s.Target, "body": jsonOrNil(body)}, "before": before}); err != nil {
		return err
	}
	_, err := e.Store.UpdateFinding(ctx, p.partition(), p.FindingID, func(cur *guard.Finding) (*guard.Finding, error) {
		if cur == nil {
			return nil, nil
		}
		n := *cur
		ev, err := withRecord(cur.Evidence, record{PlanID: p.ID, Action: p.Action.Type, Outcome: "applying", Approval: p.Approval, At: now})
		if err != nil {
			return nil, err
		}
		n.Evidence = ev
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("remediate: record intent on %s: %w", p.FindingID, err)
	}
	return nil
}

// attemptFailed handles a failed read or write: retried, unless ARM refused the
// request or this was the last attempt, when the plan fails.
func (e *Executor) attemptFailed(ctx context.Context, now time.Time, p *Plan, it guard.OutboxItem, done []stepResult, err error) error {
	max := e.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	status, retryAfter := httpFacts(err)
	refused := errors.Is(err, guard.ErrUnsupported) ||
		status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusConflict && status != http.StatusTooManyRequests
	if refused || it.Attempts+1 >= max {
		why := fmt.Sprintf("gave up after %d attempt(s): %v", it.Attempts+1, err)
		if refused {
			why = "ARM refused the request: " + err.Error()
		}
		e.log().Warn("remediation failed", "itemId", it.ID, "findingId", p.FindingID, "reason", why)
		return e.finish(ctx, now, p, "failed", "remediation.failed", "failed", why, done)
	}
	e.log().Info("remediation attempt failed; it will be retried", "itemId", it.ID, "findingId", p.FindingID, "error", err.Error())
	if aerr := e.audit(ctx, now, "remediation.retry", p, map[string]any{"attempt": it.Attempts + 1, "error": err.Error(), "steps": done}); aerr != nil {
		return aerr
	}
	if retryAfter > 0 {
		return guard.RetryAfter(err, retryAfter)
	}
	return err
}

// httpFacts reads the HTTP status and Retry-After a Writer's or Reader's error
// carries, when it does.
func httpFacts(err error) (status int, retryAfter time.Duration) {
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		status = hs.HTTPStatus()
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		retryAfter = ra.RetryAfter()
	}
	return status, retryAfter
}

// finish records an outcome: the finding's remediation status and record, the
// audit trail, and OnOutcome. It returns what the dispatcher should do with the
// item: nil for applied and not-needed, guard.Permanent for the rest.
func (e *Executor) finish(ctx context.Context, now time.Time, p *Plan, status, kind, outcome, reason string, steps []stepResult) error {
	var written []string
	for _, s := range steps {
		if s.Outcome == "written" {
			written = append(written, s.Method+" "+s.Target)
		}
	}
	// The trail first: a process that dies before the finding records the
	// outcome runs the plan again (and finds it done), so the outcome is
	// recorded at least once, never lost.
	extra := map[string]any{"outcome": outcome, "steps": steps}
	if reason != "" {
		extra["reason"] = reason
	}
	if err := e.audit(ctx, now, kind, p, extra); err != nil {
		return err
	}
	stored, err := e.Store.UpdateFinding(ctx, p.partition(), p.FindingID, func(cur *guard.Finding) (*guard.Finding, error) {
		if cur == nil {
			return nil, nil
		}
		n := *cur
		switch {
		case status == "none" && cur.Remediation.Status == "applied" && sameTrigger(cur.Trigger, p.Trigger):
			// Never downgrade what this transition's remediation achieved.
		case sameTrigger(cur.Trigger, p.Trigger):
			n.Remediation.Status = status
		}
		ev, err := withRecord(cur.Evidence, record{PlanID: p.ID, Action: p.Action.Type, Outcome: outcome, Reason: reason,
			Approval: p.Approval, Steps: written, At: now})
		if err != nil {
			return nil, err
		}
		n.Evidence = ev
		return &n, nil
	})
	if err != nil {
		return fmt.Errorf("remediate: record %s on %s: %w", outcome, p.FindingID, err)
	}
	if e.OnOutcome != nil && stored != nil && (outcome == "applied" || outcome == "failed") {
		if herr := e.OnOutcome(ctx, *stored); herr != nil {
			e.log().Warn("remediation outcome hook failed", "findingId", p.FindingID, "error", herr.Error())
		}
	}
	switch outcome {
	case "applied", "not-needed":
		return nil
	}
	return guard.Permanent(fmt.Errorf("remediation %s: %s", outcome, reason))
}

func (e *Executor) audit(ctx context.Context, now time.Time, kind string, p *Plan, extra map[string]any) error {
	return appendAudit(ctx, e.Store, now, kind, p, extra)
}

func jsonOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return rawJSON(b)
}

// rawJSON marshals as the JSON it holds.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
