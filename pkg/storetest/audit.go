package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testAudit(t *testing.T, open Opener) {
	t.Run("AppendAudit returns the record with Seq, PrevHash and Hash set", func(t *testing.T) {
		s := open(t)
		recs := appendRecords(t, s, pSA1, 5)
		for i, rec := range recs {
			want := record(pSA1, i)
			want.Seq, want.PrevHash, want.Hash = rec.Seq, rec.PrevHash, rec.Hash
			diff(t, fmt.Sprintf("record %d returned by AppendAudit", i), want, rec)
			wantUTC(t, fmt.Sprintf("record %d returned by AppendAudit", i), rec.At)
		}
		wantChain(t, "AppendAudit", pSA1, recs)
		diff(t, "ListAudit", recs, listAudit(t, s, pSA1, 0, 100))
	})

	t.Run("each partition is a chain of its own from Seq 1", func(t *testing.T) {
		s := open(t)
		counts := map[string]int{pSA1: 4, pAlpha: 2, guard.SealPartition: 3, pBeta: 1}
		order := []string{pSA1, pAlpha, guard.SealPartition, pBeta}
		returned := map[string][]guard.AuditRecord{}
		for i := range 4 { // interleaved: sa1, alpha, seals, beta, sa1, alpha, seals, sa1, …
			for _, p := range order {
				if i < counts[p] {
					rec, err := s.AppendAudit(t.Context(), record(p, i))
					mustNil(t, fmt.Sprintf("AppendAudit %d to %s", i, p), err)
					returned[p] = append(returned[p], rec)
				}
			}
		}
		for _, p := range order {
			wantChain(t, "AppendAudit to "+p, p, returned[p])
			got := listAudit(t, s, p, 0, 100)
			diff(t, "ListAudit "+p, returned[p], got)
			wantChain(t, "ListAudit "+p, p, got)
		}
		diff(t, "ListAudit of a partition never appended to", []guard.AuditRecord(nil), listAudit(t, s, pGamma, 0, 100))
	})

	t.Run("a record's hash covers its partition", func(t *testing.T) {
		s := open(t)
		var hashes []string
		for _, p := range []string{pSA1, pAlpha} {
			rec, err := s.AppendAudit(t.Context(), record(p, 0)) // the same record, Seq 1, in two chains
			mustNil(t, "AppendAudit to "+p, err)
			legacy := rec
			legacy.Partition = ""
			if rec.Partition != p || rec.Hash != guard.AuditHash(rec) || rec.Hash == guard.AuditHash(legacy) {
				t.Errorf("AppendAudit to %s: got partition %q, Hash %q; want %q and the v2 hash %q (not the v1 hash %q)",
					p, rec.Partition, rec.Hash, p, guard.AuditHash(rec), guard.AuditHash(legacy))
			}
			listed := listAudit(t, s, p, 0, 10)
			diff(t, "ListAudit "+p, []guard.AuditRecord{rec}, listed)
			hashes = append(hashes, rec.Hash)
		}
		if hashes[0] == hashes[1] {
			t.Errorf("the same record as Seq 1 of %s and of %s has the same hash %s", pSA1, pAlpha, hashes[0])
		}
	})

	t.Run("AppendAudit refuses a record without a partition", func(t *testing.T) {
		s := open(t)
		rec, err := s.AppendAudit(t.Context(), record("", 0))
		if err == nil {
			t.Errorf("AppendAudit of a record without a partition: stored %+v, want an error", rec)
		}
		diff(t, "AuditHeads after the refusal", []guard.AuditHead(nil), auditHeads(t, s, time.Time{}))
	})

	t.Run("AppendAudit keeps Data byte for byte, as its hash covers", func(t *testing.T) {
		s := open(t)
		datas := []string{"{ \"a\" : [1, 2],\n  \"b\": \"<&> \\u00e9 \u00e9\" }", "", `"just a string"`, "null", `{"n":1.50}`}
		for i, d := range datas {
			_, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: pSA1, At: t0, Kind: "k", Subject: fmt.Sprint(i), Data: json.RawMessage(d)})
			mustNil(t, fmt.Sprintf("AppendAudit %d", i), err)
		}
		got := listAudit(t, s, pSA1, 0, 100)
		if len(got) != len(datas) {
			t.Fatalf("ListAudit: got %d records, want %d", len(got), len(datas))
		}
		for i, rec := range got {
			if string(rec.Data) != datas[i] {
				t.Errorf("record %d: Data %q, want %q byte for byte", i, rec.Data, datas[i])
			}
		}
		wantChain(t, "ListAudit", pSA1, got)
	})

	t.Run("concurrent appenders on one partition build one chain", func(t *testing.T) {
		const goroutines, appends = 16, 4
		s := open(t)
		returned := appendConcurrently(t, s, goroutines, appends, func(g, n int) string { return pSA1 })
		got := listAudit(t, s, pSA1, 0, 1000)
		if len(got) != goroutines*appends {
			t.Fatalf("ListAudit: got %d records, want %d", len(got), goroutines*appends)
		}
		wantChain(t, "the chain appended concurrently", pSA1, got)
		for _, rec := range got {
			diff(t, fmt.Sprintf("record %d listed and as AppendAudit returned it", rec.Seq), returned[pSA1][rec.Seq], rec)
		}
	})

	t.Run("concurrent appenders on many partitions build a chain each", func(t *testing.T) {
		const goroutines, appends, partitions = 16, 6, 8
		s := open(t)
		ps := make([]string, partitions)
		for i := range ps {
			ps[i] = guard.PartitionOf(rgPrefix + fmt.Sprintf("Acct%02d", i))
		}
		// Goroutine g appends its n-th record to partition (g+n) mod 8: each
		// partition gets goroutines*appends/partitions records, from many goroutines.
		returned := appendConcurrently(t, s, goroutines, appends, func(g, n int) string { return ps[(g+n)%partitions] })
		var wantHeads []guard.AuditHead
		for _, p := range ps {
			got := listAudit(t, s, p, 0, 1000)
			if len(got) != goroutines*appends/partitions {
				t.Errorf("ListAudit %s: got %d records, want %d", p, len(got), goroutines*appends/partitions)
				continue
			}
			wantChain(t, "the chain of "+p, p, got)
			for _, rec := range got {
				diff(t, fmt.Sprintf("record %d of %s listed and as AppendAudit returned it", rec.Seq, p), returned[p][rec.Seq], rec)
			}
			wantHeads = append(wantHeads, head(got[len(got)-1]))
		}
		slices.SortFunc(wantHeads, func(a, b guard.AuditHead) int { return strings.Compare(a.Partition, b.Partition) })
		diff(t, "AuditHeads", wantHeads, auditHeads(t, s, time.Time{}))
	})

	t.Run("ListAudit returns a partition's records in Seq order", func(t *testing.T) {
		s := open(t)
		if got := listAudit(t, s, pSA1, 0, 10); len(got) != 0 {
			t.Errorf("ListAudit of an empty trail: got %d records, want 0", len(got))
		}
		recs := appendRecords(t, s, pSA1, 5)
		appendRecords(t, s, pAlpha, 3)
		got := listAudit(t, s, pSA1, 0, 100)
		diff(t, "ListAudit", recs, got)
		for i, rec := range got {
			wantUTC(t, fmt.Sprintf("record %d", i), rec.At)
		}
		diff(t, "ListAudit after the second", recs[2:4], listAudit(t, s, pSA1, recs[1].Seq, 2))
		diff(t, "ListAudit after the last", []guard.AuditRecord(nil), listAudit(t, s, pSA1, recs[4].Seq, 10))
		diff(t, "ListAudit with limit 0", []guard.AuditRecord(nil), listAudit(t, s, pSA1, 0, 0))
	})

	t.Run("ListAudit pages", func(t *testing.T) {
		s := open(t)
		recs := appendRecords(t, s, pSA1, 7)
		appendRecords(t, s, pAlpha, 7)
		var got []guard.AuditRecord
		var sizes []int
		after := int64(0)
		for range 10 { // 7 records in pages of 3: 4 pages, the last empty
			page := listAudit(t, s, pSA1, after, 3)
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

	t.Run("AuditHeads returns the last record of each chain moved since", func(t *testing.T) {
		s := open(t)
		diff(t, "AuditHeads of an empty store", []guard.AuditHead(nil), auditHeads(t, s, time.Time{}))
		sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
		var last = map[string]guard.AuditRecord{}
		for _, a := range []struct {
			partition string
			at        time.Time
		}{
			{pBeta, sec(-3600)},
			{pSA1, sec(0)},
			{pAlpha, sec(10)},
			{pSA1, sec(1)},
			{guard.SealPartition, sec(5)},
			{pSA1, sec(2)},
			{pAlpha, sec(1)}, // a last record older than the one before it: its At is the head's
			{guard.SealPartition, sec(6)},
		} {
			rec := record(a.partition, 0)
			rec.At = a.at
			got, err := s.AppendAudit(t.Context(), rec)
			mustNil(t, "AppendAudit to "+a.partition, err)
			last[a.partition] = got
		}
		// Sorted by partition: "/subscriptions/…/alpha", "…/beta", "…/sa1", "~seals".
		heads := func(ps ...string) []guard.AuditHead {
			var out []guard.AuditHead
			for _, p := range ps {
				out = append(out, head(last[p]))
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			since time.Time
			want  []guard.AuditHead
		}{
			{"the zero time", time.Time{}, heads(pAlpha, pBeta, pSA1, guard.SealPartition)},
			{"at the oldest head", sec(-3600), heads(pAlpha, pBeta, pSA1, guard.SealPartition)},
			{"a microsecond after the oldest head", sec(-3600).Add(time.Microsecond), heads(pAlpha, pSA1, guard.SealPartition)},
			{"at alpha's head, older than its record before", sec(1), heads(pAlpha, pSA1, guard.SealPartition)},
			{"at alpha's head, given in UTC", sec(1).UTC(), heads(pAlpha, pSA1, guard.SealPartition)},
			{"a microsecond after alpha's head", sec(1).Add(time.Microsecond), heads(pSA1, guard.SealPartition)},
			{"at the seals' head", sec(6), heads(guard.SealPartition)},
			{"after every head", sec(6).Add(time.Microsecond), nil},
			{"after every record", sec(11), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := auditHeads(t, s, tc.since)
				diff(t, "AuditHeads", tc.want, got)
				for _, h := range got {
					wantUTC(t, "AuditHeads "+h.Partition, h.At)
				}
			})
		}
	})

	t.Run("the seal partition is an ordinary chain", func(t *testing.T) {
		s := open(t)
		appendRecords(t, s, pSA1, 2)
		var seals []guard.AuditRecord
		for i := range 3 {
			appendRecords(t, s, pAlpha, 1)
			var heads []guard.AuditHead
			for _, h := range auditHeads(t, s, time.Time{}) {
				if h.Partition != guard.SealPartition {
					heads = append(heads, h)
				}
			}
			data, err := json.Marshal(guard.NewSealData(heads))
			mustNil(t, "marshal the seal", err)
			rec, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: guard.SealPartition, At: t0.Add(time.Duration(i) * time.Hour),
				Kind: guard.SealKind, Subject: fmt.Sprintf("seal %d", i+1), Data: data})
			mustNil(t, fmt.Sprintf("AppendAudit of seal %d", i+1), err)
			seals = append(seals, rec)
		}
		got := listAudit(t, s, guard.SealPartition, 0, 100)
		diff(t, "ListAudit of the seals", seals, got)
		wantChain(t, "the seals", guard.SealPartition, got)
		for i, rec := range got {
			if i < len(seals) && string(rec.Data) != string(seals[i].Data) {
				t.Errorf("seal %d: Data %s, want %s byte for byte", i+1, rec.Data, seals[i].Data)
			}
		}
		wantChain(t, "sa1's chain beside the seals", pSA1, listAudit(t, s, pSA1, 0, 100))
		hs := auditHeads(t, s, time.Time{})
		if len(hs) != 3 {
			t.Fatalf("AuditHeads: %+v, want alpha's, sa1's and the seals'", hs)
		}
		diff(t, "the last of AuditHeads", head(seals[2]), hs[2])
	})
}

// appendConcurrently runs goroutines that each append appends records, the
// n-th of goroutine g to partition(g, n), and returns the records as
// AppendAudit returned them, by partition and Seq. It reports a Seq returned
// twice in a partition.
func appendConcurrently(t *testing.T, s guard.Store, goroutines, appends int, partition func(g, n int) string) map[string]map[int64]guard.AuditRecord {
	t.Helper()
	var mu sync.Mutex
	returned := map[string]map[int64]guard.AuditRecord{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for n := range appends {
				p := partition(g, n)
				rec := record(p, g*appends+n)
				got, err := s.AppendAudit(t.Context(), rec)
				if err != nil {
					t.Errorf("goroutine %d, append %d to %s: %v", g, n, p, err)
					return
				}
				mu.Lock()
				if returned[p] == nil {
					returned[p] = map[int64]guard.AuditRecord{}
				}
				if other, ok := returned[p][got.Seq]; ok {
					t.Errorf("Seq %d of %s returned for %s and %s", got.Seq, p, other.Subject, got.Subject)
				}
				returned[p][got.Seq] = got
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return returned
}

// record returns the i-th test record of a partition's chain.
func record(partition string, i int) guard.AuditRecord {
	return guard.AuditRecord{
		Partition: partition,
		At:        t0.Add(time.Duration(i) * time.Second),
		Kind:      "change",
		Subject:   fmt.Sprintf("f-%d", i),
		Data:      json.RawMessage(fmt.Sprintf(`{"i":%d,"rule":"residency.location","note":"<%d> & co"}`, i, i)),
	}
}

// appendRecords appends record(partition, 0) to record(partition, n-1) and
// returns them as AppendAudit did.
func appendRecords(t *testing.T, s guard.Store, partition string, n int) []guard.AuditRecord {
	t.Helper()
	var out []guard.AuditRecord
	for i := range n {
		rec, err := s.AppendAudit(t.Context(), record(partition, i))
		mustNil(t, fmt.Sprintf("AppendAudit %d to %s", i, partition), err)
		out = append(out, rec)
	}
	return out
}

func listAudit(t *testing.T, s guard.Store, partition string, after int64, limit int) []guard.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), partition, after, limit)
	mustNil(t, fmt.Sprintf("ListAudit(%q, %d, %d)", partition, after, limit), err)
	if len(recs) > limit {
		t.Errorf("ListAudit(%q, %d, %d): got %d records, want at most %d", partition, after, limit, len(recs), limit)
	}
	return recs
}

func auditHeads(t *testing.T, s guard.Store, since time.Time) []guard.AuditHead {
	t.Helper()
	hs, err := s.AuditHeads(t.Context(), since)
	mustNil(t, fmt.Sprintf("AuditHeads(%v)", since), err)
	return hs
}

// head is the AuditHead of rec, the last record of its chain.
func head(rec guard.AuditRecord) guard.AuditHead {
	return guard.AuditHead{Partition: rec.Partition, Seq: rec.Seq, Hash: rec.Hash, At: rec.At}
}

// wantChain reports unless recs are the partition's whole chain: Seq 1 to
// len(recs), each chained to the one before and hashed (v2, over its
// partition), as VerifyAudit checks.
func wantChain(t *testing.T, what, partition string, recs []guard.AuditRecord) {
	t.Helper()
	prev := ""
	for i, rec := range recs {
		if rec.Partition != partition || rec.Seq != int64(i+1) || rec.PrevHash != prev || rec.Hash != guard.AuditHash(rec) {
			t.Errorf("%s: record %d: got partition %q, Seq %d, PrevHash %q, Hash %q; want %q, Seq %d, PrevHash %q (the previous Hash), Hash %q (its AuditHash)",
				what, i, rec.Partition, rec.Seq, rec.PrevHash, rec.Hash, partition, i+1, prev, guard.AuditHash(rec))
		}
		prev = rec.Hash
	}
	if err := guard.VerifyAudit(recs); err != nil {
		t.Errorf("%s: VerifyAudit: %v", what, err)
	}
}

// Tamper edits a store's audit records behind its back, as anyone with write
// access to the database could. It needs the store's insides, so each store's
// own tests supply one and call RunTamper.
type Tamper struct {
	// Alter changes what is stored for record seq of the partition's chain
	// (its kind, subject, time or data), leaving its Seq, PrevHash and Hash as
	// they are.
	Alter func(t *testing.T, s guard.Store, partition string, seq int64)
	// Remove deletes record seq of the partition's chain.
	Remove func(t *testing.T, s guard.Store, partition string, seq int64)
}

// RunTamper is the optional part of the contract, for stores whose tests can
// tamper with them: a record altered or removed behind the store's back is
// what guard.VerifyAudit names in what ListAudit returns for its partition,
// also after more appends, and the other partitions' chains still verify.
func RunTamper(t *testing.T, open Opener, tamper Tamper) {
	for _, tc := range []struct {
		name    string
		edit    func(t *testing.T, s guard.Store, partition string, seq int64)
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
			appendRecords(t, s, pSA1, 5)
			appendRecords(t, s, pAlpha, 5)
			tc.edit(t, s, pSA1, tc.seq)
			wantNamed(t, "after tampering", listAudit(t, s, pSA1, 0, 100), tc.seq, tc.problem)
			rec, err := s.AppendAudit(t.Context(), record(pSA1, 5))
			mustNil(t, "AppendAudit after tampering", err)
			if rec.Seq != 6 {
				t.Errorf("AppendAudit after tampering: Seq %d, want 6", rec.Seq)
			}
			wantNamed(t, "after one more append", listAudit(t, s, pSA1, 0, 100), tc.seq, tc.problem)
			if err := guard.VerifyAudit(listAudit(t, s, pAlpha, 0, 100)); err != nil {
				t.Errorf("VerifyAudit of the partition left alone: %v", err)
			}
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
