package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
			want.Seq, want.PrevHash, want.Hash = rec.Seq, rec.PrevHash, rec.Hash
			diff(t, fmt.Sprintf("record %d returned by AppendAudit", i), want, rec)
		}
	})

	t.Run("AppendAudit chains records from Seq 1", func(t *testing.T) {
		s := open(t)
		recs := appendRecords(t, s, 5)
		prev := ""
		for i, rec := range recs {
			if rec.Seq != int64(i+1) || rec.PrevHash != prev || rec.Hash != guard.AuditHash(rec) {
				t.Errorf("record %d: got Seq %d, PrevHash %q, Hash %q; want Seq %d, PrevHash %q (the previous Hash), Hash %q (its AuditHash)",
					i, rec.Seq, rec.PrevHash, rec.Hash, i+1, prev, guard.AuditHash(rec))
			}
			prev = rec.Hash
		}
		got := listAudit(t, s, 0, 100)
		diff(t, "ListAudit", recs, got)
		if err := guard.VerifyAudit(got); err != nil {
			t.Errorf("VerifyAudit of the records listed: %v", err)
		}
	})

	t.Run("AppendAudit keeps Data byte for byte, as its hash covers", func(t *testing.T) {
		s := open(t)
		datas := []string{"{ \"a\" : [1, 2],\n  \"b\": \"<&> \\u00e9 \u00e9\" }", "", `"just a string"`, "null", `{"n":1.50}`}
		for i, d := range datas {
			_, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: t0, Kind: "k", Subject: fmt.Sprint(i), Data: json.RawMessage(d)})
			mustNil(t, fmt.Sprintf("AppendAudit %d", i), err)
		}
		got := listAudit(t, s, 0, 100)
		if len(got) != len(datas) {
			t.Fatalf("ListAudit: got %d records, want %d", len(got), len(datas))
		}
		for i, rec := range got {
			if string(rec.Data) != datas[i] {
				t.Errorf("record %d: Data %q, want %q byte for byte", i, rec.Data, datas[i])
			}
		}
		if err := guard.VerifyAudit(got); err != nil {
			t.Errorf("VerifyAudit: %v", err)
		}
	})

	t.Run("concurrent appends build one chain", func(t *testing.T) {
		const goroutines, appends = 4, 8
		s := open(t)
		var mu sync.Mutex
		returned := map[int64]guard.AuditRecord{}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for n := range appends {
					rec := record(g*appends + n)
					got, err := s.AppendAudit(t.Context(), rec)
					if err != nil {
						t.Errorf("goroutine %d, append %d: %v", g, n, err)
						return
					}
					mu.Lock()
					if other, ok := returned[got.Seq]; ok {
						t.Errorf("Seq %d returned for %s and %s", got.Seq, other.Subject, got.Subject)
					}
					returned[got.Seq] = got
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		got := listAudit(t, s, 0, 1000)
		if len(got) != goroutines*appends {
			t.Fatalf("ListAudit: got %d records, want %d", len(got), goroutines*appends)
		}
		if err := guard.VerifyAudit(got); err != nil {
			t.Errorf("VerifyAudit of the trail appended concurrently: %v", err)
		}
		for _, rec := range got {
			diff(t, fmt.Sprintf("record %d listed and as AppendAudit returned it", rec.Seq), returned[rec.Seq], rec)
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
		if err := guard.VerifyAudit(got); err != nil {
			t.Errorf("VerifyAudit: %v", err)
		}
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

// Tamper edits a store's audit records behind its back, as anyone with write
// access to the database could. It needs the store's insides, so each store's
// own tests supply one and call RunTamper.
type Tamper struct {
	// Alter changes what is stored for record seq (its kind, subject, time or
	// data), leaving its Seq, PrevHash and Hash as they are.
	Alter func(t *testing.T, s guard.Store, seq int64)
	// Remove deletes record seq.
	Remove func(t *testing.T, s guard.Store, seq int64)
}

// RunTamper is the optional part of the contract, for stores whose tests can
// tamper with them: a record altered or removed behind the store's back is
// what guard.VerifyAudit names in what ListAudit returns, also after more
// appends.
func RunTamper(t *testing.T, open Opener, tamper Tamper) {
	for _, tc := range []struct {
		name    string
		edit    func(t *testing.T, s guard.Store, seq int64)
		seq     int64
		problem guard.AuditProblem
	}{
		{"altered record is named", tamper.Alter, 3, guard.AuditAltered},
		{"altered first record is named", tamper.Alter, 1, guard.AuditAltered},
		{"removed record is named", tamper.Remove, 3, guard.AuditRemoved},
		{"removed first record is named", tamper.Remove, 1, guard.AuditRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			appendRecords(t, s, 5)
			tc.edit(t, s, tc.seq)
			wantNamed(t, "after tampering", listAudit(t, s, 0, 100), tc.seq, tc.problem)
			rec, err := s.AppendAudit(t.Context(), record(5))
			mustNil(t, "AppendAudit after tampering", err)
			if rec.Seq != 6 {
				t.Errorf("AppendAudit after tampering: Seq %d, want 6", rec.Seq)
			}
			wantNamed(t, "after one more append", listAudit(t, s, 0, 100), tc.seq, tc.problem)
		})
	}
}

// wantNamed reports unless VerifyAudit names record seq with this problem.
func wantNamed(t *testing.T, what string, recs []guard.AuditRecord, seq int64, problem guard.AuditProblem) {
	t.Helper()
	err := guard.VerifyAudit(recs)
	var ae *guard.AuditError
	if !errors.As(err, &ae) {
		t.Fatalf("VerifyAudit %s: got %v, want an *AuditError naming record %d as %s", what, err, seq, problem)
	}
	if ae.Seq != seq || ae.Problem != problem || ae.Verified != int(seq-1) {
		t.Errorf("VerifyAudit %s: got %v (after %d good records), want record %d %s after %d", what, err, ae.Verified, seq, problem, seq-1)
	}
}
