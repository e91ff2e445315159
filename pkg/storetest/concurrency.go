package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// testConcurrency is many instances of the pipeline writing the same
// resources at once (issue 15: 32 writers hammering the same 20 resources
// lose nothing). A store may answer a lost race by retrying; the suite's
// writers are few enough that none may fail.
func testConcurrency(t *testing.T, open Opener) {
	const writers, resources = 32, 20
	ids := make([]string, resources)
	for i := range ids {
		ids[i] = rgPrefix + fmt.Sprintf("Hot%02d", i)
	}

	t.Run("32 writers updating the same 20 findings lose no update", func(t *testing.T) {
		s := open(t)
		for _, id := range ids {
			putFinding(t, s, changeFinding(id, 0))
		}
		var mu sync.Mutex
		returned := map[string][]int{}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range resources { // each writer updates every finding once, starting at its own
					id := ids[(w+i)%resources]
					got, err := s.UpdateFinding(t.Context(), guard.PartitionOf(id), findingID(id), increment)
					if err != nil {
						t.Errorf("writer %d, update of %s: %v", w, findingID(id), err)
						return
					}
					n, _ := got.Evidence["count"].(float64)
					mu.Lock()
					returned[id] = append(returned[id], int(n))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		want := make([]int, writers) // each update returned what it stored: 1 to 32 once each
		for i := range want {
			want[i] = i + 1
		}
		for _, id := range ids {
			if n := getFinding(t, s, findingID(id)).Evidence["count"]; n != float64(writers) {
				t.Errorf("count of %s: %v, want %d", findingID(id), n, writers)
			}
			sort.Ints(returned[id])
			diff(t, "counts returned for "+findingID(id), want, returned[id])
		}
	})

	// Each batch is a change of three of the resources, written as the
	// pipeline writes one: in each partition, unless the event key is there
	// already, the finding's update, an audit record and the key. The key makes
	// fn safe to run again when a store commits some partitions before losing
	// a race in another (Cosmos DB commits each partition on its own).
	t.Run("32 writers batching changes of the same 20 resources keep every chain", func(t *testing.T) {
		const batches, perBatch = 2, 3
		s := open(t)
		for _, id := range ids {
			putFinding(t, s, changeFinding(id, 0))
		}
		touches := map[string][]string{} // resource ID: the event keys of the batches that change it
		type change struct{ id, key string }
		plan := make([][][]change, writers)
		for w := range writers {
			plan[w] = make([][]change, batches)
			for b := range batches {
				key := fmt.Sprintf("event:eventhub:w%02d-b%d", w, b)
				for k := range perBatch { // three distinct resources, 7 apart
					id := ids[(w*batches+b+7*k)%resources]
					plan[w][b] = append(plan[w][b], change{id, key})
					touches[id] = append(touches[id], key)
				}
			}
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for b, changes := range plan[w] {
					err := s.Batch(t.Context(), func(ctx context.Context) error {
						for _, c := range changes {
							p := guard.PartitionOf(c.id)
							done, err := s.Processed(ctx, p, c.key)
							if err != nil || done {
								return err
							}
							if _, err := s.UpdateFinding(ctx, p, findingID(c.id), increment); err != nil {
								return err
							}
							rec := guard.AuditRecord{Partition: p, At: t0.Add(time.Duration(w) * time.Second), Kind: "change", Subject: c.key}
							if _, err := s.AppendAudit(ctx, rec); err != nil {
								return err
							}
							if err := s.MarkProcessed(ctx, p, c.key, t0); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Errorf("writer %d, batch %d: %v", w, b, err)
						return
					}
				}
			})
		}
		wg.Wait()

		var wantHeads []guard.AuditHead
		for _, id := range ids {
			p := guard.PartitionOf(id)
			keys := touches[id]
			if n := getFinding(t, s, findingID(id)).Evidence["count"]; n != float64(len(keys)) {
				t.Errorf("count of %s: %v, want %d", findingID(id), n, len(keys))
			}
			recs := listAudit(t, s, p, 0, 1000)
			wantChain(t, "the chain of "+id, p, recs)
			var subjects []string
			for _, rec := range recs {
				subjects = append(subjects, rec.Subject)
			}
			slices.Sort(subjects)
			slices.Sort(keys)
			diff(t, "the changes recorded in the chain of "+id, keys, subjects)
			for _, key := range keys {
				wantProcessed(t, s, p, key, true)
			}
			if len(recs) > 0 {
				wantHeads = append(wantHeads, head(recs[len(recs)-1]))
			}
		}
		slices.SortFunc(wantHeads, func(a, b guard.AuditHead) int { return strings.Compare(a.Partition, b.Partition) })
		diff(t, "AuditHeads", wantHeads, auditHeads(t, s, time.Time{}))
	})
}
