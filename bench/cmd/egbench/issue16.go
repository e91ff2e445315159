package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/exportguard/exportguard/bench"
)

// issue16 measures what issue 16 asks: replay linear in the session's length,
// a sweep whose ARM reads are what is due, and ARM reads paced under ARM's
// documented throttling (2,000 changes in one subscription, at ARM's pace).
func issue16(ctx context.Context, c config) ([]Row, []Target, error) {
	var rows []Row
	var targets []Target

	template, err := os.ReadFile("../testdata/sessions/storage-replication.ndjson")
	if err != nil {
		return nil, nil, err
	}
	var walls = map[int]time.Duration{}
	for _, n := range []int{c.replayShort, c.replayLong} {
		progress("replay of storage-replication day-shifted %d times", n)
		wall, stats, err := bench.ReplaySession(ctx, bench.DayShiftedSession(template, n), "../functions")
		if err != nil {
			return nil, nil, fmt.Errorf("replay %dx: %w", n, err)
		}
		walls[n] = wall
		rows = append(rows, Row{Name: fmt.Sprintf("replay, storage-replication day-shifted %dx", n), Store: "sqlite.Memory",
			Records: stats.Lines, Seconds: wall.Seconds(), PerSec: float64(stats.Lines) / wall.Seconds(),
			Note: fmt.Sprintf("%d lines, %d sweeps, %d reconciles, %d changes, %d transitions", stats.Lines, stats.Sweeps, stats.Reconciles, stats.Changes, stats.Transitions)})
	}
	ratio := walls[c.replayLong].Seconds() / walls[c.replayShort].Seconds()
	targets = append(targets, Target{Goal: fmt.Sprintf("replay of the day-shifted session %dx takes at most 12x as long as %dx", c.replayLong, c.replayShort),
		Measured: fmt.Sprintf("%.2fx (%.2f s and %.2f s)", ratio, walls[c.replayLong].Seconds(), walls[c.replayShort].Seconds()),
		Value:    ratio, Met: ratio <= 12})

	progress("sweep over 5000 open findings with 3 grants due")
	reads, wall, err := bench.SweepOverOpenFindings(ctx, 5000, 3)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	rows = append(rows, Row{Name: "sweep over 5000 open findings, 3 grants due", Store: "sqlite.Memory", Records: 5000,
		Seconds: wall.Seconds(), Note: fmt.Sprintf("%d ARM reads", reads)})
	targets = append(targets, Target{Goal: "a sweep over 5,000 open findings with 3 grants due reads 3 resources",
		Measured: fmt.Sprintf("%d ARM reads", reads), Value: float64(reads), Met: reads == 3})

	progress("2000 changes in one subscription against a throttling ARM, at ARM's pace (about 95 s)")
	b, err := bench.ARMBurst(ctx, c.armChanges, 1)
	if err != nil {
		return nil, nil, fmt.Errorf("ARM burst: %w", err)
	}
	rows = append(rows, Row{Name: fmt.Sprintf("%d changes in one subscription, ARM throttling as documented", b.Changes), Store: "sqlite.Memory",
		Records: b.Changes, Seconds: b.Wall.Seconds(), PerSec: float64(b.Changes) / b.Wall.Seconds(),
		Note: fmt.Sprintf("%d judged; ARM answered %d reads, %d 429s, %d reads inside a Retry-After; the budget sent %d (20/s, bursts of 100, 4 in flight; ARM's bucket 250, 25/s)",
			b.Judged, b.Server.Reads, b.Server.Throttled, b.Server.Early, b.BudgetReads)})
	targets = append(targets, Target{Goal: "2,000 changes in one subscription against a throttling ARM: nothing lost, no request beyond the budget",
		Measured: fmt.Sprintf("%d of %d judged, %d reads, %d throttled, %.1f s", b.Judged, b.Changes, b.Server.Reads, b.Server.Throttled, b.Wall.Seconds()),
		Value:    float64(b.Server.Throttled), Met: b.Judged == b.Changes && b.Server.Throttled == 0 && b.Server.Early == 0})
	return rows, targets, nil
}
