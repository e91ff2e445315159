package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// trailEvents returns the audit trail of every partition (the seals aside) as a
// list of events, as tests read it: each record as stored, and before a change
// or sweep record one event per transition it lists (Kind "finding.<to>",
// Subject the finding, Data the transition, At the record's). Records are in
// the order of their At, each partition's in Seq order.
func trailEvents(st guard.Store) ([]guard.AuditRecord, error) {
	ctx := context.Background()
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	var all []guard.AuditRecord
	for _, h := range heads {
		if h.Partition == guard.SealPartition {
			continue
		}
		recs, err := st.ListAudit(ctx, h.Partition, 0, 1_000_000)
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	slices.SortStableFunc(all, func(a, b guard.AuditRecord) int { return a.At.Compare(b.At) })
	var out []guard.AuditRecord
	for _, r := range all {
		if r.Kind == guard.AuditChange || r.Kind == guard.AuditSweep {
			var d guard.ChangeRecord
			if err := json.Unmarshal(r.Data, &d); err != nil {
				return nil, fmt.Errorf("record %d of %s: %w", r.Seq, r.Partition, err)
			}
			for _, t := range d.Transitions {
				b, _ := json.Marshal(t)
				out = append(out, guard.AuditRecord{Partition: r.Partition, At: r.At, Kind: "finding." + string(t.To), Subject: t.FindingID, Data: b})
			}
		}
		out = append(out, r)
	}
	return out, nil
}
