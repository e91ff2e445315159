package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
	"github.com/exportguard/exportguard/pkg/guard"
)

// TestFaultKillBatch is TestFaultKillReplay with every kill at one of the two
// points issue 15's atomic change makes matter, each drawn through the session
// (killingStore.Batch):
//
//   - before-commit: a change's partition has been read, its transitions,
//     audit record, outbox items, state and event key written into its Batch,
//     and the store has not committed them: the next process must judge the
//     change again, whole, as if it had never been seen;
//   - after-commit: the Batch is committed (the change's own on Cosmos DB, the
//     delivery's transaction on SQLite) and the pipeline has not heard the
//     answer: the next process must find the change a duplicate, and deliver
//     the notifications and remediation it enqueued from the outbox.
//
// The checks are TestFaultKillReplay's (checkKilledReplay): every finding as
// the uninterrupted run left it, each transition recorded exactly once, every
// notification and remediation outcome at least once (twice only across a
// kill), each ARM write once, the same outbox left, and audit verify passes.
// It runs on the embedded store and on Cosmos DB (the local server).
//
// Short: SQLite 30 copies of remediation-auto and 4 kills, Cosmos DB 8 copies
// and 4 kills; full: 100 copies and 16 kills, 40 copies and 10 kills.
// EXPORTGUARD_FAULTS_SEED picks another draw.
func TestFaultKillBatch(t *testing.T) {
	seed := uint64(15)
	if s := os.Getenv("EXPORTGUARD_FAULTS_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("EXPORTGUARD_FAULTS_SEED=%q: %v", s, err)
		}
	}
	pol := sessionPolicy(t, policyOnly(remAuto))
	for _, c := range []struct {
		name          string
		copies, kills int
		store         func(t *testing.T, run string) string // a fresh store for a run
	}{
		{"sqlite", faultsScale(t, 30, 100), faultsScale(t, 4, 16), nil},
		{"cosmos", faultsScale(t, 8, 40), faultsScale(t, 4, 10), func(t *testing.T, run string) string {
			srv := cosmostest.StartForTest(t)
			t.Setenv(envCosmosKey, cosmostest.Key)
			return fmt.Sprintf("cosmos:%s?database=killbatch-%d-%s&ensureContainers=true", srv.Endpoint, os.Getpid(), run)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 15))
			session, lines := writeFaultSession(t, c.copies, 47*time.Second)
			t.Logf("seed %d: %d copies of remediation-auto, %d lines", seed, c.copies, lines)
			replayInto := func(fr *faultRun, run string, plan []killSpec, hook *faultTarget) faultResult {
				dir := t.TempDir()
				if c.store == nil {
					return replayWithKills(t, fr, dir, pol, session, plan, hook)
				}
				return replayWithKillsInto(t, fr, c.store(t, run), dir, pol, session, plan, hook)
			}

			refRun := &faultRun{}
			_, _, refHook := newFaultTargets(t, refRun)
			ref := replayInto(refRun, "uninterrupted", nil, refHook)
			t.Logf("uninterrupted: %v, %d store writes, %d ARM writes", ref.stats.Took.Round(time.Millisecond), ref.stats.StoreWrites, ref.stats.ARMWrites)
			if ref.stats.ARMWrites == 0 {
				t.Fatal("the session remediates nothing: the test proves nothing")
			}

			first, last := sessionSpan(t, session)
			plan := planBatchKills(rng, c.kills, first, last)
			killedRun := &faultRun{}
			_, _, hook := newFaultTargets(t, killedRun)
			started := time.Now()
			got := replayInto(killedRun, "killed", plan, hook)
			t.Logf("%d kill(s) of %d planned, then a run to the end: %v in all", len(got.killed), len(plan), time.Since(started).Round(time.Millisecond))
			for _, mode := range []string{killBeforeCommit, killAfterCommit} {
				if !slices.ContainsFunc(got.killed, func(k killSpec) bool { return k.mode == mode }) {
					t.Errorf("no child was killed %s: the test proves less than it says", mode)
				}
			}
			checkKilledReplay(t, ref, got, refRun, killedRun)

			// Each change recorded once in each partition it touched: a kill
			// before the commit leaves no record, one after it leaves the
			// change a duplicate, never recorded again.
			refChanges, gotChanges := changeRecordsOf(t, ref.store), changeRecordsOf(t, got.store)
			if d := gocmp.Diff(keys(refChanges), keys(gotChanges)); d != "" {
				t.Errorf("changes recorded (-uninterrupted +killed):\n%s", d)
			}
			if twice := once(gotChanges); len(twice) > 0 {
				t.Errorf("changes recorded more than once after %d kill(s): %v", len(got.killed), twice)
			}
			t.Logf("%d change records", len(gotChanges))
		})
	}
}

// changeRecordsOf counts the change records of the store's trail by
// partition, event and operation.
func changeRecordsOf(t *testing.T, url string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range auditOf(t, url) {
		if r.Kind != guard.AuditChange {
			continue
		}
		var d guard.ChangeRecord
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatalf("record %d of %s: %v", r.Seq, r.Partition, err)
		}
		out[r.Partition+" "+string(d.Source)+" "+d.EventID+" "+d.Operation]++
	}
	return out
}

// planBatchKills draws n kills at times through the session, in increasing
// order, alternately before and after a Batch commits.
func planBatchKills(rng *rand.Rand, n int, first, last time.Time) []killSpec {
	span := last.Sub(first)
	out := make([]killSpec, n)
	for i := range out {
		out[i].at = first.Add(time.Duration(rng.Int64N(int64(span))))
	}
	slices.SortFunc(out, func(a, b killSpec) int { return a.at.Compare(b.at) })
	for i := range out {
		out[i].mode = []string{killBeforeCommit, killAfterCommit}[i%2]
	}
	return out
}
