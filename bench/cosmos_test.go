package bench

import (
	"fmt"
	"testing"

	"github.com/exportguard/exportguard/bench/workload"
)

// TestCosmosCost runs the driver's Cosmos DB section small, on the local
// server it starts, and checks what it counts (never how long anything took):
// issue 15's round trips per judged change (one point read and one
// transactional batch), per duplicate (one read), per record no rule judges
// (none), beside the dispatcher's one outbox query per delivery; and pipelines
// at once on one database lose nothing against a serial run.
func TestCosmosCost(t *testing.T) {
	u := workload.NewUniverse(1, 4000)
	res, err := RunCosmos(t.Context(), u, CosmosConfig{Accounts: 20, PerPipeline: 10, Rounds: 2, Pipelines: []int{1, 4}}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := res.Runs[0].Delivers
	for _, tc := range []struct {
		name                           string
		got                            PerUnit
		count                          int
		reads, batches, batchOpsAtMost float64
	}{
		{"judged change", res.Judged, 20, 1, 1, 3},
		{"duplicate", res.Duplicate, 20, 1, 0, 0},
		{"record no rule judges", res.Unjudged, 40, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.got
			t.Logf("%+v", g)
			queries := g.Queries * float64(g.Count)
			if g.Count != tc.count || g.Reads != tc.reads || g.Batches != tc.batches || g.BatchOps > tc.batchOpsAtMost ||
				queries != float64(deliveries) || g.Requests*float64(g.Count) != (g.Reads+g.Batches)*float64(g.Count)+queries {
				t.Errorf("per %s: %+v; want %d counted, %v reads, %v batches of at most %v operations, one query per delivery (%d) and nothing else",
					tc.name, g, tc.count, tc.reads, tc.batches, tc.batchOpsAtMost, deliveries)
			}
		})
	}
	if len(res.Scale) != 2 {
		t.Fatalf("%d runs at once, want 2", len(res.Scale))
	}
	for _, r := range res.Scale {
		t.Run(fmt.Sprintf("%d pipelines at once", r.Pipelines), func(t *testing.T) {
			if r.Failed != 0 || !r.FindingsAgree || r.Judged != r.Pipelines*20 || (r.Pipelines == 4 && r.Findings == 0) {
				t.Errorf("%+v; want no failure, %d judged changes, and the findings of a serial run", r, r.Pipelines*20)
			}
		})
	}
}
