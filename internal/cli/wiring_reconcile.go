package cli

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/scan"
)

// reconcileLimit bounds one run of the reconcile timer: under host.json's
// functionTimeout (10 minutes), with a minute to spare for the answer, so that
// a big estate's reconcile stops and says so rather than being killed by the
// host. What it did not reach waits for the next day's run, which starts over:
// an estate too big for the window is scanned in full by `exportguard scan`
// (no limit), or with a longer functionTimeout (Premium and Dedicated plans).
const reconcileLimit = 9 * time.Minute

// reconcilingIngester is the handler's ingester whose reconcile timer scans
// the policy's scope through Resource Graph (pkg/scan) instead of re-reading
// every open finding from ARM.
type reconcilingIngester struct {
	apiIngester
	scan  *scan.Scanner
	limit time.Duration
}

// withReconcile makes the reconcile timer scan through graph; with no graph
// (serve under test, or no Resource Graph client) the ingester is unchanged
// and the reconcile re-reads open findings from ARM.
func withReconcile(ing functions.Ingester, graph scan.Graph, log *slog.Logger) functions.Ingester {
	a, ok := ing.(apiIngester)
	if !ok || graph == nil {
		return ing
	}
	return reconcilingIngester{apiIngester: a, limit: reconcileLimit,
		scan: &scan.Scanner{Pipeline: a.Pipeline, Graph: graph, Log: log}}
}

// ReconcileAll is the reconcile timer's work (functions.Reconciler): the
// scope's subscriptions scanned and judged as `exportguard scan` does, then
// ARM for what Resource Graph does not hold, all within reconcileLimit.
func (r reconcilingIngester) ReconcileAll(ctx context.Context, now time.Time) (guard.Summary, error) {
	log := r.scan.Log
	var subs []string
	for _, s := range r.Pipeline.Policy.Scope.Subscriptions {
		subs = append(subs, strings.ToLower(strings.TrimSpace(s)))
	}
	if len(subs) == 0 {
		log.Warn("reconcile: the policy lists no scope.subscriptions, so Resource Graph has nothing to scan; re-checking the open findings from ARM instead")
		return r.Pipeline.RecheckOpen(ctx, now)
	}
	sctx, cancel := context.WithTimeout(ctx, r.limit)
	defer cancel()
	rep, err := r.scan.Run(sctx, now, subs)
	log.Info("reconcile: scanned", "subscriptions", len(subs), "resources", rep.Rows,
		"graphRequests", rep.Graph.Requests, "graphThrottled", rep.Graph.Throttled,
		"knownNotListed", rep.Missing, "notInGraph", rep.NotInGraph, "settings", rep.Settings,
		"unseen", rep.Graph.Unseen, "summary", rep.Summary)
	if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		// Bounded, not failed: a retry by the host would stop at the same place.
		log.Warn("reconcile stopped at its time limit: the resources it did not reach are judged at the next run, or by exportguard scan",
			"limit", r.limit, "resources", rep.Rows, "rowsPerSubscription", rep.Graph.Subscriptions, "error", err.Error())
		return rep.Summary, nil
	}
	return rep.Summary, err
}
