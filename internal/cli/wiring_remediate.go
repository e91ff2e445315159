package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/remediate"
	"github.com/exportguard/exportguard/pkg/report"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// remediateParts builds the remediation planner and executor the policy's
// remediation mode asks for. Both are always there, whatever the mode: the
// planner plans nothing when remediation is off, and the executor refuses (and
// records why) a plan left from an earlier policy instead of leaving it to the
// dispatcher as an item nobody sends. The executor gets its ARM reader and
// writer from bindRemediation. When the policy names notification targets, an
// applied or failed remediation is told to them like a transition.
func (a *App) remediateParts(pol *guard.Policy, st guard.Store, log *slog.Logger) ([]guard.Planner, map[string]guard.Sender, error) {
	ex := &remediate.Executor{Store: st, Policy: pol, Log: log}
	if len(notifyTargets(pol)) > 0 {
		np, err := a.notifyPlanner(pol)
		if err != nil {
			return nil, nil, err
		}
		ex.OnOutcome = func(ctx context.Context, f guard.Finding) error {
			return np.EnqueueRemediation(ctx, st, notify.RemediationOutcome{Finding: f})
		}
	}
	return []guard.Planner{&remediate.Planner{Store: st, Policy: pol, Log: log}},
		map[string]guard.Sender{remediate.Kind: ex}, nil
}

// remediationExecutor returns the pipeline's remediation executor, or nil.
func remediationExecutor(p *guard.Pipeline) *remediate.Executor {
	if p == nil || p.Dispatcher == nil {
		return nil
	}
	ex, _ := p.Dispatcher.Senders[remediate.Kind].(*remediate.Executor)
	return ex
}

// bindRemediation gives the executor the ARM it reads and writes: the ARM
// client (and a writer on its pipeline) in Azure, the session's recorded ARM in
// replay. A reader that cannot write leaves plans waiting in the outbox.
func bindRemediation(p *guard.Pipeline, reader guard.ResourceReader) {
	ex := remediationExecutor(p)
	if ex == nil || reader == nil {
		return
	}
	ex.Reader = reader
	switch r := reader.(type) {
	case *resourcemanager.Client:
		ex.Writer = resourcemanager.NewWriter(r)
	case remediate.Writer:
		ex.Writer = r
	}
}

// apiIngester is the pipeline as the Functions handler sees it, with the
// findings API (functions.FindingsAPI) beside it for the api function.
type apiIngester struct {
	*guard.Pipeline
	api *findingsAPI
}

// ReconcileAll is the reconcile timer's work (functions.Reconciler): until
// Resource Graph feeds it (guard.Pipeline.Reconcile), every resource with an
// open or exempt finding is re-checked from ARM, within the ARM read budget.
func (a apiIngester) ReconcileAll(ctx context.Context, now time.Time) (guard.Summary, error) {
	return a.Pipeline.RecheckOpen(ctx, now)
}

// servedIngester adds the findings API to a pipeline for the handler.
func (a *App) servedIngester(p *guard.Pipeline, st guard.Store) functions.Ingester {
	return apiIngester{Pipeline: p, api: &findingsAPI{store: st, now: a.now, approvals: &remediate.Approvals{Store: st, Now: a.Now}}}
}

func (a apiIngester) ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	return a.api.store.ListFindings(ctx, f)
}

func (a apiIngester) GetFinding(ctx context.Context, id string) (*guard.Finding, error) {
	return a.api.store.GetFinding(ctx, id)
}

func (a apiIngester) RemediationPlans(ctx context.Context, findingID string) (any, error) {
	return a.api.approvals.List(ctx, findingID)
}

func (a apiIngester) Approve(ctx context.Context, findingID string, who functions.Principal, reason string) (any, error) {
	p, err := a.api.approvals.Approve(ctx, findingID, apiApprover(who), reason)
	return p, apiError(err)
}

func (a apiIngester) Deny(ctx context.Context, findingID string, who functions.Principal, reason string) (any, error) {
	p, err := a.api.approvals.Deny(ctx, findingID, apiApprover(who), reason)
	return p, apiError(err)
}

// DashboardPage renders the posture (pkg/report) from the store under the
// pipeline's policy, for the dashboard function (functions.Dashboard).
func (a apiIngester) DashboardPage(ctx context.Context, refresh time.Duration) (string, error) {
	p, err := report.Build(ctx, a.api.store, a.Pipeline.Policy, report.Options{Now: a.api.now(), Refresh: refresh, Title: "exportguard posture (live)"})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := p.HTML(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

type findingsAPI struct {
	store     guard.Store
	now       func() time.Time
	approvals *remediate.Approvals
}

func apiApprover(p functions.Principal) remediate.Approver {
	via := "api: Entra ID principal from App Service authentication"
	if p.IdentityProvider != "" {
		via += " (" + p.IdentityProvider + ")"
	}
	return remediate.Approver{ObjectID: p.ObjectID, Name: p.Name, Via: via}
}

// apiError turns the approvals' errors into answers for the caller.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, remediate.ErrNoPlan):
		return &functions.APIError{Status: http.StatusNotFound, Message: "no remediation plan of this finding awaits approval"}
	case errors.Is(err, remediate.ErrNotAwaiting):
		return &functions.APIError{Status: http.StatusConflict, Message: "the finding's remediation plan does not await approval (already approved, denied, expired or run)"}
	case errors.Is(err, remediate.ErrExpired):
		return &functions.APIError{Status: http.StatusConflict, Message: "the remediation plan's approval deadline has passed"}
	case errors.Is(err, remediate.ErrFindingMoved):
		return &functions.APIError{Status: http.StatusConflict, Message: "the finding is no longer open from the transition the plan was made for"}
	case errors.Is(err, remediate.ErrReasonRequired), errors.Is(err, remediate.ErrNoApprover):
		return &functions.APIError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	return err
}
