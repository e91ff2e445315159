package functions

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// fnReconcile is the daily timer that re-checks every judged resource
// (DESIGN 1): timerTrigger "timer", schedule in functions/reconcile/function.json.
const fnReconcile = "reconcile"

// Reconciler is an Ingester that can re-check every judged resource: the
// reconcile timer's work, which the sweep no longer does.
type Reconciler interface {
	ReconcileAll(ctx context.Context, now time.Time) (guard.Summary, error)
}

// reconcile runs the reconcile timer function. An Ingester that cannot
// reconcile answers the tick with a line saying so.
func (h *handler) reconcile(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	var ti timerInfo
	if raw, ok := inv.data(bindTimer); ok {
		ti = parseTimer(raw)
	}
	r, ok := h.ing.(Reconciler)
	if !ok {
		log.Warn("reconcile: this handler has nothing to reconcile with")
		return result{logs: []string{fnReconcile + ": not configured"}}, nil
	}
	sum, err := r.ReconcileAll(ctx, h.now())
	if err != nil {
		log.Error("reconcile failed", slog.Bool("pastDue", ti.IsPastDue), slog.String("error", err.Error()))
		return result{}, err
	}
	log.Info("invocation done", slog.Bool("pastDue", ti.IsPastDue), slog.Any("summary", sum))
	return result{logs: []string{fmt.Sprintf("%s: %s", fnReconcile, summaryLine(sum))}, summary: summaryOf(sum, 0)}, nil
}
