package bench

import (
	"testing"
)

// TestRunScan: the bench's scan row judges every resource, asks Resources
// a page of 1,000 rows at a time, and reads nothing from ARM but the
// subscriptions' diagnostic settings.
func TestRunScan(t *testing.T) {
	const n = 10_000
	r, err := RunScan(t.Context(), t.TempDir(), n, 3, Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Judged != n || r.ResourcesQueries > 11 || r.ARMReads != r.SettingsReads || r.SettingsReads != 3 {
		t.Errorf("%+v: want %d judged, at most 11 Resources requests, 3 ARM reads (the diagnostic settings)", r, n)
	}
}
