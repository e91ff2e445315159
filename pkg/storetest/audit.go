package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testAudit(t *testing.T, open Opener) {
	t.Run("AppendAudit assigns increasing Seq", func(t *testing.T) {
		s := open(t)
		recs := appendRecords(t, s, 5)
		if recs[0].Seq <= 0 {
			t.Errorf("first Seq: got %d, want > 0", recs[0].Seq)
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].Seq <= recs[i-1].Seq {
				t.Errorf("Seq of record %d: got %d, want > %d", i, recs[i].Seq, recs[i-1].Seq)
			}
		}
		for i, rec := range recs {
			want := record(i)
			want.Seq = rec.Seq
			diff(t, fmt.Sprintf("record %d returned by AppendAudit", i), want, rec)
		}
	})

	t.Run("ListAudit returns records in Seq order", func(t *testing.T) {
		s := open(t)
		if got := listAudit(t, s, 0, 10); len(got) != 0 {
			t.Errorf("ListAudit of an empty trail: got %d records, want 0", len(got))
		}
		recs := appendRecords(t, s, 5)
		got := listAudit(t, s, 0, 100)
		diff(t, "ListAudit", recs, got)
		for i, rec := range got {
			wantUTC(t, fmt.Sprintf("record %d", i), rec.At)
		}
		diff(t, "ListAudit after the second", recs[2:4], listAudit(t, s, recs[1].Seq, 2))
		diff(t, "ListAudit after the last", []guard.AuditRecord(nil), listAudit(t, s, recs[4].Seq, 10))
	})

	t.Run("ListAudit pages", func(t *testing.T) {
		s := open(t)
		recs := appendRecords(t, s, 7)
		var got []guard.AuditRecord
		var sizes []int
		after := int64(0)
		for range 10 { // 7 records in pages of 3: 4 pages, the last empty
			page := listAudit(t, s, after, 3)
			sizes = append(sizes, len(page))
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Seq
		}
		diff(t, "page sizes", []int{3, 3, 1, 0}, sizes)
		diff(t, "records read page by page", recs, got)
	})
}

func record(i int) guard.AuditRecord {
	return guard.AuditRecord{
		At:      t0.Add(time.Duration(i) * time.Second),
		Kind:    "finding.open",
		Subject: fmt.Sprintf("f-%d", i),
		Data:    json.RawMessage(fmt.Sprintf(`{"i":%d,"rule":"residency.location","note":"<%d> & co"}`, i, i)),
	}
}

// appendRecords appends record(0) to record(n-1) and returns them as AppendAudit did.
func appendRecords(t *testing.T, s guard.Store, n int) []guard.AuditRecord {
	t.Helper()
	var out []guard.AuditRecord
	for i := range n {
		rec, err := s.AppendAudit(t.Context(), record(i))
		mustNil(t, fmt.Sprintf("AppendAudit %d", i), err)
		out = append(out, rec)
	}
	return out
}

func listAudit(t *testing.T, s guard.Store, after int64, limit int) []guard.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), after, limit)
	mustNil(t, fmt.Sprintf("ListAudit(%d, %d)", after, limit), err)
	if len(recs) > limit {
		t.Errorf("ListAudit(%d, %d): got %d records, want at most %d", after, limit, len(recs), limit)
	}
	return recs
}
