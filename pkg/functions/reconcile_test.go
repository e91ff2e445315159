package functions

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// reconcilingIngester is a fakeIngester that can reconcile.
type reconcilingIngester struct {
	*fakeIngester
	at  []time.Time
	err error
}

func (r *reconcilingIngester) ReconcileAll(_ context.Context, now time.Time) (guard.Summary, error) {
	r.at = append(r.at, now)
	return guard.Summary{Verdicts: 7, Transitions: 2}, r.err
}

// TestReconcile: the reconcile timer runs the Ingester's ReconcileAll, never
// the sweep; one that cannot reconcile answers the tick saying so; a failure
// is the host's to retry (500).
func TestReconcile(t *testing.T) {
	tick := readTestdata(t, "sweep-timer.json") // the same timer binding
	tests := []struct {
		name     string
		ing      Ingester
		wantCode int
		wantLog  string
		wantAt   []time.Time
	}{
		{"reconciles", &reconcilingIngester{fakeIngester: &fakeIngester{}}, http.StatusOK, "reconcile: 0 changes, 0 duplicates, 0 skipped, 0 rejected, 0 ignored, 7 verdicts, 2 transitions", []time.Time{fixedNow}},
		{"cannot reconcile", &fakeIngester{}, http.StatusOK, "reconcile: not configured", nil},
		{"fails", &reconcilingIngester{fakeIngester: &fakeIngester{}, err: errStoreDown}, http.StatusInternalServerError, "", []time.Time{fixedNow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestHandler(t, tt.ing, nil)
			w := do(h, hostRequest(http.MethodPost, "/reconcile", tick))
			if tt.wantCode != http.StatusOK {
				checkError(t, w, tt.wantCode)
			} else {
				a := checkAnswer(t, w)
				if !slices.ContainsFunc(a.Logs, func(l string) bool { return strings.Contains(l, tt.wantLog) }) {
					t.Errorf("Logs = %q, want a line containing %q", a.Logs, tt.wantLog)
				}
			}
			var at []time.Time
			var sweeps []time.Time
			switch ing := tt.ing.(type) {
			case *reconcilingIngester:
				at, sweeps = ing.at, ing.sweeps
			case *fakeIngester:
				sweeps = ing.sweeps
			}
			if diff := cmp.Diff(tt.wantAt, at); diff != "" {
				t.Errorf("ReconcileAll calls (-want +got):\n%s", diff)
			}
			if len(sweeps) != 0 {
				t.Errorf("Sweep called %d times on a reconcile tick", len(sweeps))
			}
		})
	}
}
