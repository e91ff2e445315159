package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/resourcemanager/armtest"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// Issue 16's figures: replay that is linear in the session's length, a sweep
// that reads what is due, and ARM reads paced under ARM's throttling.

// DayShiftedSession is testdata/sessions/storage-replication.ndjson copied n
// times, copy k a day after copy k-1 (every timestamp of its day moved) and
// with resource groups of its own (rg-… becomes rg-c<k>-…), so that the
// estate, and the open findings, grow with the session as they would in a
// guard that runs for n days.
func DayShiftedSession(template []byte, n int) []byte {
	day := regexp.MustCompile(`2026-11-02T`)
	rg := regexp.MustCompile(`(?i)(resourceGroups/rg-)`)
	var out bytes.Buffer
	base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for k := range n {
		d := base.AddDate(0, 0, k).Format("2006-01-02") + "T"
		b := day.ReplaceAll(template, []byte(d))
		b = rg.ReplaceAll(b, []byte(fmt.Sprintf("${1}c%d-", k)))
		out.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// TimerSchedule reads the timerTrigger schedule of a function.json (six-field
// NCRONTAB), as internal/cli/wiring.go's sweepSchedule does.
func TimerSchedule(path string) (cron.Schedule, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fj struct {
		Bindings []struct{ Type, Schedule string } `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, b := range fj.Bindings {
		if b.Type == "timerTrigger" {
			return cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(b.Schedule)
		}
	}
	return nil, fmt.Errorf("%s: no timerTrigger", path)
}

// ReplaySession replays a session as `exportguard replay` does (a fresh
// in-memory store, the default policy, the sweep and reconcile timers of the
// functions' folders) and returns its wall time.
func ReplaySession(ctx context.Context, session []byte, functionsDir string) (time.Duration, replay.Stats, error) {
	sweep, err := TimerSchedule(functionsDir + "/sweep/function.json")
	if err != nil {
		return 0, replay.Stats{}, err
	}
	reconcile, err := TimerSchedule(functionsDir + "/reconcile/function.json")
	if err != nil {
		return 0, replay.Stats{}, err
	}
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		return 0, replay.Stats{}, err
	}
	defer st.Close()
	r := &replay.Replayer{Pipeline: NewPipeline(st, nil, policyfile.Default(), Logger()), Schedule: sweep, Reconcile: reconcile}
	began := time.Now()
	stats, err := r.Run(ctx, "day-shifted", bytes.NewReader(session))
	return time.Since(began), stats, err
}

// countingReader counts the reads of a reader.
type countingReader struct {
	guard.ResourceReader
	mu sync.Mutex
	n  int
}

func (r *countingReader) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	return r.ResourceReader.ReadResource(ctx, id)
}

// SweepOverOpenFindings stores open findings and due grants (JIT grants on
// VMs since deleted) and runs one sweep; it returns the sweep's ARM reads and
// wall time.
func SweepOverOpenFindings(ctx context.Context, open, due int) (int, time.Duration, error) {
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := t0
	a := replay.NewARM(func() time.Time { return clock })
	reader := &countingReader{ResourceReader: a}
	const sub = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	for k := range open {
		id := armtest.AccountID(sub, k)
		f := guard.Finding{ID: guard.FindingID(guard.RuleResidencyReplication, id, ""), Rule: guard.RuleResidencyReplication,
			Severity: "high", Status: guard.StatusOpen, SubscriptionID: sub, ResourceID: id, Message: "seeded",
			Evidence: map[string]any{}, FirstSeen: t0, LastSeen: t0, Remediation: guard.Remediation{Mode: "off", Status: "none"}}
		if _, err := st.UpdateFinding(ctx, guard.PartitionOf(id), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
			return 0, 0, err
		}
	}
	for k := range due {
		vm := fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-burst/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, k)
		if err := st.PutGrant(ctx, guard.Grant{ID: fmt.Sprintf("jit-%d", k), Rule: guard.RuleJITOverstay, Kind: "jit",
			ResourceID: vm, Start: t0.Add(-time.Hour), End: t0}); err != nil {
			return 0, 0, err
		}
		a.Observe(session.Line{Source: session.SourceARM, At: t0, ID: vm, Deleted: true})
	}
	clock = t0.Add(10 * time.Minute)
	p := NewPipeline(st, reader, policyfile.Default(), Logger())
	began := time.Now()
	if _, err := p.Sweep(ctx, clock); err != nil {
		return reader.n, 0, err
	}
	return reader.n, time.Since(began), nil
}

// ARMBurstResult is what ARMBurst measured.
type ARMBurstResult struct {
	Changes, Judged int
	Server          armtest.Counts
	BudgetReads     int64
	Wall            time.Duration
}

// ARMBurst ingests changes writes in one subscription as one Event Hubs
// delivery, reading ARM from a local server that throttles as ARM documents,
// through the default read budget (speedup 1: ARM's own pace).
func ARMBurst(ctx context.Context, changes int, speedup float64) (ARMBurstResult, error) {
	res := ARMBurstResult{Changes: changes}
	srv := armtest.NewServer(armtest.Options{Bucket: resourcemanager.ARMReadBucket, RefillPerSecond: resourcemanager.ARMReadRefillPerSecond * speedup, StartTokens: -1})
	defer srv.Close()
	budget := resourcemanager.NewReadBudget(resourcemanager.BudgetOptions{PerSecond: resourcemanager.DefaultBudget.PerSecond * speedup})
	reader, err := srv.Client(budget)
	if err != nil {
		return res, err
	}
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		return res, err
	}
	defer st.Close()
	p := NewPipeline(st, reader, policyfile.Default(), Logger())
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	began := time.Now()
	if _, err := p.IngestAll(ctx, guard.SourceEventHub, armtest.WriteBodies("5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", changes, 100, now), now); err != nil {
		return res, err
	}
	res.Wall = time.Since(began)
	fs, err := st.ListFindings(ctx, guard.FindingFilter{Rule: guard.RuleResidencyReplication})
	if err != nil {
		return res, err
	}
	res.Judged, res.Server, res.BudgetReads = len(fs), srv.Counts(), budget.Reads()
	return res, nil
}
