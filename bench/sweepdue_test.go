package bench

import (
	"os"
	"testing"
)

// The issue 16 measurements run in `make bench` at full size; here they run
// small, for what they count (no timing is asserted).
func TestIssue16Measurements(t *testing.T) {
	t.Run("sweep reads the due grants only", func(t *testing.T) {
		reads, _, err := SweepOverOpenFindings(t.Context(), 500, 3)
		if err != nil {
			t.Fatal(err)
		}
		if reads != 3 {
			t.Errorf("the sweep read ARM %d times, want 3", reads)
		}
	})
	t.Run("ARM burst loses nothing", func(t *testing.T) {
		b, err := ARMBurst(t.Context(), 300, 40)
		if err != nil {
			t.Fatal(err)
		}
		if b.Judged != b.Changes || b.Server.Throttled != 0 || b.Server.Early != 0 {
			t.Errorf("%+v: want every change judged, none throttled", b)
		}
	})
	t.Run("day-shifted replay", func(t *testing.T) {
		tmpl, err := os.ReadFile("../testdata/sessions/storage-replication.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		_, stats, err := ReplaySession(t.Context(), DayShiftedSession(tmpl, 3), "../functions")
		if err != nil {
			t.Fatal(err)
		}
		if stats.Lines != 42 || stats.Changes == 0 {
			t.Errorf("stats = %+v, want 42 lines replayed with changes", stats)
		}
	})
}
