package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// memTrail is a trail held in memory, read as a store reads it: records by
// partition, and the heads the store keeps (derived from the records unless
// the test set them, as a store whose records were changed behind its back).
type memTrail struct {
	chains map[string][]guard.AuditRecord
	heads  []guard.AuditHead
}

func (m *memTrail) ListAudit(_ context.Context, partition string, after int64, limit int) ([]guard.AuditRecord, error) {
	var out []guard.AuditRecord
	for _, r := range m.chains[partition] {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memTrail) AuditHeads(_ context.Context, since time.Time) ([]guard.AuditHead, error) {
	if m.heads != nil {
		return m.heads, nil
	}
	var out []guard.AuditHead
	for p, recs := range m.chains {
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			out = append(out, guard.AuditHead{Partition: p, Seq: last.Seq, Hash: last.Hash, At: last.At})
		}
	}
	slices.SortFunc(out, func(a, b guard.AuditHead) int { return strings.Compare(a.Partition, b.Partition) })
	return out, nil
}

const (
	partA = "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/a"
	partB = "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/b"
)

// partitionChain is a valid chain of n records in partition p.
func partitionChain(p string, n int) []guard.AuditRecord {
	var out []guard.AuditRecord
	prev := ""
	for i := 1; i <= n; i++ {
		rec := guard.SealAudit(guard.AuditRecord{Partition: p, At: time.Date(2025, 3, 14, 7, 0, i, 0, time.UTC), Kind: "change",
			Subject: fmt.Sprintf("%s#%d", p[len(p)-1:], i), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}, int64(i), prev)
		out = append(out, rec)
		prev = rec.Hash
	}
	return out
}

// sealChain chains seals of these data.
func sealChain(data ...guard.SealData) []guard.AuditRecord {
	var out []guard.AuditRecord
	prev := ""
	for i, d := range data {
		raw, _ := json.Marshal(d)
		rec := guard.SealAudit(guard.AuditRecord{Partition: guard.SealPartition, At: time.Date(2025, 3, 14, 8, 0, i, 0, time.UTC),
			Kind: guard.SealKind, Subject: "sweep", Data: raw}, int64(i+1), prev)
		out = append(out, rec)
		prev = rec.Hash
	}
	return out
}

func headOf(r guard.AuditRecord) guard.AuditHead {
	return guard.AuditHead{Partition: r.Partition, Seq: r.Seq, Hash: r.Hash}
}

// sampleTrail: partition a has 4 records, b 3; seal 1 names a@2 and b@1,
// seal 2 names a@3 and b@3; a@4 is unsealed.
func sampleTrail() *memTrail {
	a, b := partitionChain(partA, 4), partitionChain(partB, 3)
	return &memTrail{chains: map[string][]guard.AuditRecord{partA: a, partB: b, guard.SealPartition: sealChain(
		guard.NewSealData([]guard.AuditHead{headOf(b[0]), headOf(a[1])}),
		guard.NewSealData([]guard.AuditHead{headOf(a[2]), headOf(b[2])}),
	)}}
}

// reseal replaces the last seal's data, with a valid hash and chain: what a
// writer of the seal chain could do.
func reseal(m *memTrail, edit func(*guard.SealData)) {
	seals := m.chains[guard.SealPartition]
	var datas []guard.SealData
	for _, s := range seals {
		var d guard.SealData
		if err := json.Unmarshal(s.Data, &d); err != nil {
			panic(err)
		}
		datas = append(datas, d)
	}
	edit(&datas[len(datas)-1])
	m.chains[guard.SealPartition] = sealChain(datas...)
}

func TestVerifyTrail(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m *memTrail)
		// The first bad record, "" for a trail that verifies.
		partition string
		seq       int64
		problem   guard.AuditProblem
		reason    string
	}{
		{name: "untouched", edit: func(*memTrail) {}},
		{name: "record altered in one partition", edit: func(m *memTrail) { m.chains[partB][1].Subject = "forged" },
			partition: partB, seq: 2, problem: guard.AuditAltered, reason: "its hash does not match its content"},
		{name: "record removed in one partition", edit: func(m *memTrail) { m.chains[partA] = slices.Delete(m.chains[partA], 1, 2) },
			partition: partA, seq: 2, problem: guard.AuditRemoved, reason: "Seq jumps from 1 to 3"},
		{name: "record inserted in one partition", edit: func(m *memTrail) {
			a := m.chains[partA]
			forged := guard.SealAudit(guard.AuditRecord{Partition: partA, Kind: "change", Subject: "forged"}, 3, "0")
			m.chains[partA] = slices.Insert(a, 2, forged)
		}, partition: partA, seq: 3, problem: guard.AuditInserted, reason: "its PrevHash 0 is not the hash"},
		{name: "record of another partition put in a chain", edit: func(m *memTrail) {
			m.chains[partA][3] = guard.SealAudit(guard.AuditRecord{Partition: partB, Kind: "change", Subject: "x"}, 4, m.chains[partA][2].Hash)
		}, partition: partA, seq: 4, problem: guard.AuditInserted, reason: "a record of partition"},
		{name: "seal altered", edit: func(m *memTrail) {
			m.chains[guard.SealPartition][0].Data = json.RawMessage(strings.Replace(string(m.chains[guard.SealPartition][0].Data), `"seq":2`, `"seq":1`, 1))
		}, partition: guard.SealPartition, seq: 1, problem: guard.AuditAltered},
		{name: "seal removed", edit: func(m *memTrail) { m.chains[guard.SealPartition] = m.chains[guard.SealPartition][1:] },
			partition: guard.SealPartition, seq: 1, problem: guard.AuditRemoved},
		{name: "seal naming a head that does not exist", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) {
				*d = guard.NewSealData(append(d.Heads, guard.AuditHead{Partition: partA[:len(partA)-1] + "c", Seq: 1, Hash: strings.Repeat("c", 64)}))
			})
		}, partition: partA[:len(partA)-1] + "c", seq: 1, problem: guard.AuditRemoved, reason: "seal 2 names it, but the partition's chain ends at Seq 0"},
		{name: "seal naming a Seq beyond a partition's end", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) { d.Heads[0].Seq = 9; *d = guard.NewSealData(d.Heads) })
		}, partition: partA, seq: 9, problem: guard.AuditRemoved, reason: "chain ends at Seq 4"},
		{name: "seal naming another hash", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) { d.Heads[1].Hash = strings.Repeat("f", 64); *d = guard.NewSealData(d.Heads) })
		}, partition: partB, seq: 3, problem: guard.AuditRewritten, reason: "seal 2 names ffffffffffffffff"},
		{name: "wrong root", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) { d.Root = strings.Repeat("0", 64) })
		}, partition: guard.SealPartition, seq: 2, problem: guard.AuditBadSeal, reason: "is not the Merkle root"},
		{name: "seal heads not sorted", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) {
				d.Heads[0], d.Heads[1] = d.Heads[1], d.Heads[0]
				d.Root = guard.MerkleRoot(d.Heads)
			})
		}, partition: guard.SealPartition, seq: 2, problem: guard.AuditBadSeal, reason: "not sorted"},
		{name: "seal going back", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) {
				d.Heads[0].Seq, d.Heads[0].Hash = 1, m.chains[partA][0].Hash
				*d = guard.NewSealData(d.Heads)
			})
		}, partition: guard.SealPartition, seq: 2, problem: guard.AuditBadSeal, reason: "before Seq 2 an earlier seal named"},
		{name: "legacy head on a later seal", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) { d.Legacy = &guard.AuditHead{Seq: 3, Hash: strings.Repeat("1", 64)} })
		}, partition: guard.SealPartition, seq: 2, problem: guard.AuditBadSeal, reason: "only the first seal"},
		{name: "seal data not a seal's", edit: func(m *memTrail) {
			reseal(m, func(d *guard.SealData) {})
			s := &m.chains[guard.SealPartition][1]
			*s = guard.SealAudit(guard.AuditRecord{Partition: s.Partition, At: s.At, Kind: s.Kind, Data: json.RawMessage(`[1]`)}, 2, s.PrevHash)
		}, partition: guard.SealPartition, seq: 2, problem: guard.AuditBadSeal, reason: "not a seal's"},
		{name: "partition rewritten after a seal", edit: func(m *memTrail) {
			b := partitionChain(partB, 3)
			b[0] = guard.SealAudit(guard.AuditRecord{Partition: partB, At: b[0].At, Kind: "change", Subject: "rewritten"}, 1, "")
			for i := 1; i < len(b); i++ {
				b[i] = guard.SealAudit(b[i], b[i].Seq, b[i-1].Hash)
			}
			m.chains[partB] = b
		}, partition: partB, seq: 1, problem: guard.AuditRewritten, reason: "seal 1 names"},
		{name: "sealed records cut off a partition's end", edit: func(m *memTrail) { m.chains[partA] = m.chains[partA][:2] },
			partition: partA, seq: 3, problem: guard.AuditRemoved, reason: "seal 2 names it, but the partition's chain ends at Seq 2"},
		{name: "unsealed record cut off, the store's head still naming it", edit: func(m *memTrail) {
			heads, _ := m.AuditHeads(context.Background(), time.Time{})
			m.heads = heads
			m.chains[partA] = m.chains[partA][:3]
		}, partition: partA, seq: 4, problem: guard.AuditRemoved, reason: "the partition's head is Seq 4, but its chain ends at Seq 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleTrail()
			tc.edit(m)
			var read int
			rep, err := guard.VerifyTrail(context.Background(), m, 2, func(guard.AuditRecord) error { read++; return nil })
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("VerifyTrail: %v", err)
				}
				seals := m.chains[guard.SealPartition]
				want := &guard.TrailReport{Partitions: 2, Records: 7, Seals: 2, LastSeal: seals[1],
					Root:     guard.NewSealData([]guard.AuditHead{headOf(m.chains[partA][2]), headOf(m.chains[partB][2])}).Root,
					Unsealed: []guard.Unsealed{{Partition: partA, After: 3, Head: 4}}}
				if d := cmp.Diff(want, rep); d != "" {
					t.Errorf("report (-want +got):\n%s", d)
				}
				if read != 9 || rep.UnsealedRecords() != 1 {
					t.Errorf("read %d records, %d unsealed; want 9 and 1", read, rep.UnsealedRecords())
				}
				return
			}
			var te *guard.TrailError
			if !errors.As(err, &te) {
				t.Fatalf("VerifyTrail: got %v (report %+v), want a *TrailError", err, rep)
			}
			if te.Partition != tc.partition || te.Seq != tc.seq || te.Problem != tc.problem || !strings.Contains(te.Reason, tc.reason) {
				t.Errorf("got partition %s Seq %d %s (%s), want partition %s Seq %d %s with %q",
					te.Partition, te.Seq, te.Problem, te.Reason, tc.partition, tc.seq, tc.problem, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "partition "+tc.partition+": audit record "+fmt.Sprint(tc.seq)) {
				t.Errorf("Error(): %q does not name the partition and the Seq first", err)
			}
			var ae *guard.AuditError
			if !errors.As(err, &ae) || ae.Seq != tc.seq {
				t.Errorf("errors.As(*AuditError): %v", ae)
			}
		})
	}
}

// TestVerifyTrailUnsealedAndLegacy: a trail with no seals is all unsealed;
// the first seal of a migrated store names the legacy chain's head.
func TestVerifyTrailUnsealedAndLegacy(t *testing.T) {
	a, b := partitionChain(partA, 2), partitionChain(partB, 1)
	m := &memTrail{chains: map[string][]guard.AuditRecord{partA: a, partB: b}}
	rep, err := guard.VerifyTrail(context.Background(), m, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []guard.Unsealed{{Partition: partA, After: 0, Head: 2}, {Partition: partB, After: 0, Head: 1}}
	if d := cmp.Diff(want, rep.Unsealed); d != "" || rep.Seals != 0 || rep.Records != 3 || rep.UnsealedRecords() != 3 {
		t.Errorf("unsealed (-want +got):\n%s\nseals %d, records %d", d, rep.Seals, rep.Records)
	}

	legacy := guard.AuditHead{Seq: 40, Hash: strings.Repeat("e", 64)}
	sd := guard.NewSealData(nil)
	sd.Legacy = &legacy
	m = &memTrail{chains: map[string][]guard.AuditRecord{guard.SealPartition: sealChain(sd)}}
	rep, err = guard.VerifyTrail(context.Background(), m, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Legacy == nil || *rep.Legacy != legacy || rep.Seals != 1 || rep.Partitions != 0 || len(rep.Unsealed) != 0 {
		t.Errorf("migrated store's trail: %+v, want 1 seal naming legacy head %+v", rep, legacy)
	}

	empty, err := guard.VerifyTrail(context.Background(), &memTrail{}, 10, nil)
	if err != nil || empty.Seals != 0 || empty.Records != 0 {
		t.Errorf("empty trail: %+v, %v", empty, err)
	}
}

// TestTrailVerifierInterleaved: a file's records may come partition by
// partition or interleaved; seals come first.
func TestTrailVerifierInterleaved(t *testing.T) {
	m := sampleTrail()
	var v guard.TrailVerifier
	for _, s := range m.chains[guard.SealPartition] {
		if err := v.AddSeal(s); err != nil {
			t.Fatal(err)
		}
	}
	a, b := m.chains[partA], m.chains[partB]
	for _, r := range []guard.AuditRecord{a[0], b[0], a[1], b[1], b[2], a[2], a[3]} {
		if err := v.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := v.Finish(nil)
	if err != nil || rep.Records != 7 || rep.UnsealedRecords() != 1 {
		t.Fatalf("Finish: %+v, %v", rep, err)
	}
	if err := v.AddSeal(m.chains[guard.SealPartition][0]); err == nil {
		t.Errorf("a seal after the partitions' records was taken")
	}
}
