package guard_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// TestAuditHashEncoding pins the encoding: these hashes were computed outside
// Go, with the Python of AuditHash's documentation.
func TestAuditHashEncoding(t *testing.T) {
	first := guard.AuditRecord{Seq: 1, At: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.FixedZone("UTC+2", 2*60*60)),
		Kind: "finding.open", Subject: "f-1", Data: json.RawMessage(`{"rule":"residency.location","note":"<1> & co"}`)}
	second := guard.AuditRecord{Seq: 2, At: time.Date(2025, 3, 14, 7, 26, 54, 0, time.UTC), Kind: "change", Subject: "/subscriptions/s/x",
		PrevHash: "29e18fecb8e427a05c6876161e2e925fc630968300b52637c704743334ef43e3"}
	for _, tc := range []struct {
		rec  guard.AuditRecord
		want string
	}{
		{first, "29e18fecb8e427a05c6876161e2e925fc630968300b52637c704743334ef43e3"},
		{second, "c85a6d53c6d02a15b378a3143f5a1ef4475ebe6151c231f98a2f2f29b04276a8"},
	} {
		if got := guard.AuditHash(tc.rec); got != tc.want {
			t.Errorf("AuditHash of record %d: got %s, want %s", tc.rec.Seq, got, tc.want)
		}
	}
}

// TestAuditHashEncodingV2 pins the encoding of a partition's records (v2),
// and that the same content without a partition keeps its v1 hash: these
// hashes too were computed outside Go, with the Python of AuditHash's
// documentation run on export lines of these records.
func TestAuditHashEncodingV2(t *testing.T) {
	const partition = "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/a"
	first := guard.AuditRecord{Partition: partition, Seq: 1, At: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.FixedZone("UTC+2", 2*60*60)),
		Kind: "change", Subject: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/blobServices/default",
		Data: json.RawMessage(`{"verdicts":[{"rule":"residency.location"}],"note":"\u00e9 <1>"}`)}
	second := guard.AuditRecord{Partition: partition, Seq: 2, At: time.Date(2025, 3, 14, 7, 26, 54, 0, time.UTC), Kind: "sweep", Subject: partition,
		PrevHash: "0f7b59ece6e235261b17f8d396c7020a19413266a1f9af22510803d1a740dd38"}
	v1 := first
	v1.Partition = ""
	for _, tc := range []struct {
		name string
		rec  guard.AuditRecord
		want string
	}{
		{"first", first, "0f7b59ece6e235261b17f8d396c7020a19413266a1f9af22510803d1a740dd38"},
		{"second", second, "49b982e8006b5fc97d7426557b1e26e81d8cc1d2037d25bf562b6cd5232550ab"},
		{"first without its partition", v1, "e1f639a1d2e37571ef681e1b048a1706144c87022d7c5a072062b3ed184a0134"},
	} {
		if got := guard.AuditHash(tc.rec); got != tc.want {
			t.Errorf("AuditHash of the %s record: got %s, want %s", tc.name, got, tc.want)
		}
	}
	other := first
	other.Partition += "x"
	if guard.AuditHash(other) == guard.AuditHash(first) {
		t.Errorf("the v2 hash does not cover Partition")
	}
}

// TestMerkleRoot pins MerkleRoot: computed outside Go, in Python, as seal.go
// documents it.
func TestMerkleRoot(t *testing.T) {
	heads := []guard.AuditHead{{Partition: "/a", Seq: 1, Hash: strings.Repeat("a", 64)},
		{Partition: "/b", Seq: 12, Hash: strings.Repeat("b", 64)}, {Partition: "/c", Seq: 3, Hash: strings.Repeat("c", 64)}}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{1, "fd862e8d6fa6ecce6c440763e0414f70ec6ad8ab49716f49a6dea78aac9a66e5"},
		{3, "6ec0ec5d9c4519d112c3edae2d8255ea12f0d25f0526deea7caa9e59ff6b8ac2"},
	} {
		if got := guard.MerkleRoot(heads[:tc.n]); got != tc.want {
			t.Errorf("MerkleRoot of %d heads: got %s, want %s", tc.n, got, tc.want)
		}
	}
}

// TestAuditHashCoversEveryField: changing any field but Hash changes the hash,
// and moving bytes between neighbouring fields does too.
func TestAuditHashCoversEveryField(t *testing.T) {
	base := guard.AuditRecord{Seq: 7, At: time.Date(2025, 3, 14, 7, 0, 0, 1, time.UTC), Kind: "ab", Subject: "cd",
		Data: json.RawMessage(`{"x":1}`), PrevHash: strings.Repeat("0", 64)}
	want := guard.AuditHash(base)
	for name, edit := range map[string]func(*guard.AuditRecord){
		"Seq":               func(r *guard.AuditRecord) { r.Seq++ },
		"At":                func(r *guard.AuditRecord) { r.At = r.At.Add(time.Nanosecond) },
		"Kind":              func(r *guard.AuditRecord) { r.Kind = "ax" },
		"Subject":           func(r *guard.AuditRecord) { r.Subject = "cx" },
		"Data":              func(r *guard.AuditRecord) { r.Data = json.RawMessage(`{"x": 1}`) },
		"PrevHash":          func(r *guard.AuditRecord) { r.PrevHash = strings.Repeat("1", 64) },
		"Kind into Subject": func(r *guard.AuditRecord) { r.Kind, r.Subject = "a", "bcd" },
	} {
		r := base
		edit(&r)
		if guard.AuditHash(r) == want {
			t.Errorf("changing %s leaves the hash as it was", name)
		}
	}
	r := base
	r.Hash = "anything"
	r.At = r.At.In(time.FixedZone("UTC-5", -5*60*60))
	if guard.AuditHash(r) != want {
		t.Errorf("the hash depends on Hash or on At's time zone")
	}
}

func TestSealAudit(t *testing.T) {
	at := time.Now().In(time.FixedZone("UTC+2", 2*60*60)) // with a monotonic reading
	rec := guard.SealAudit(guard.AuditRecord{Seq: 99, At: at, Kind: "k", PrevHash: "x", Hash: "y"}, 3, "abc")
	if rec.Seq != 3 || rec.PrevHash != "abc" || rec.Hash != guard.AuditHash(rec) {
		t.Errorf("SealAudit: got Seq %d, PrevHash %q, Hash %q; want 3, abc and the record's AuditHash", rec.Seq, rec.PrevHash, rec.Hash)
	}
	if rec.At.Location() != time.UTC || !rec.At.Equal(at) || rec.At != rec.At.Round(0) {
		t.Errorf("SealAudit: At %v, want %v in UTC without a monotonic reading", rec.At, at)
	}
}

// chain is a valid trail of n records.
func chain(n int) []guard.AuditRecord {
	var out []guard.AuditRecord
	prev := ""
	for i := 1; i <= n; i++ {
		rec := guard.SealAudit(guard.AuditRecord{At: time.Date(2025, 3, 14, 7, 0, i, 0, time.UTC), Kind: "finding.open",
			Subject: fmt.Sprintf("f-%d", i), Data: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))}, int64(i), prev)
		out = append(out, rec)
		prev = rec.Hash
	}
	return out
}

func TestVerifyAudit(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]guard.AuditRecord) []guard.AuditRecord
		// want is the problem, Seq and Subject named, and a part of the reason;
		// "" for a trail that verifies.
		want    guard.AuditProblem
		seq     int64
		subject string
		reason  string
	}{
		{name: "untouched", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return r }},
		{name: "empty", edit: func([]guard.AuditRecord) []guard.AuditRecord { return nil }},
		{name: "subject altered", edit: func(r []guard.AuditRecord) []guard.AuditRecord { r[2].Subject = "f-x"; return r },
			want: guard.AuditAltered, seq: 3, subject: "f-x", reason: "its hash does not match its content"},
		{name: "data altered by one byte", edit: func(r []guard.AuditRecord) []guard.AuditRecord { r[2].Data = json.RawMessage(`{"i":  3}`); return r },
			want: guard.AuditAltered, seq: 3, subject: "f-3", reason: "its hash does not match"},
		{name: "time altered", edit: func(r []guard.AuditRecord) []guard.AuditRecord { r[3].At = r[3].At.Add(-time.Hour); return r },
			want: guard.AuditAltered, seq: 4, subject: "f-4"},
		{name: "kind altered", edit: func(r []guard.AuditRecord) []guard.AuditRecord { r[0].Kind = "finding.resolved"; return r },
			want: guard.AuditAltered, seq: 1, subject: "f-1"},
		{name: "hash missing (written before the chain)", edit: func(r []guard.AuditRecord) []guard.AuditRecord { r[1].Hash = ""; return r },
			want: guard.AuditAltered, seq: 2, subject: "f-2", reason: `stored ""`},
		{name: "altered and re-hashed", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			r[2].Subject = "f-x"
			r[2].Hash = guard.AuditHash(r[2])
			return r
		}, want: guard.AuditInserted, seq: 4, subject: "f-4", reason: "is not the hash"},
		{name: "one removed", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return slices.Delete(r, 2, 3) },
			want: guard.AuditRemoved, seq: 3, subject: "f-4", reason: "Seq jumps from 2 to 4, so record 3 is missing"},
		{name: "two removed", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return slices.Delete(r, 1, 3) },
			want: guard.AuditRemoved, seq: 2, subject: "f-4", reason: "records 2 to 3 are missing"},
		{name: "first removed", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return r[1:] },
			want: guard.AuditRemoved, seq: 1, subject: "f-2", reason: "the trail starts at Seq 2"},
		{name: "removed and renumbered", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			r = slices.Delete(r, 2, 3)
			for i := 2; i < len(r); i++ {
				r[i].Seq--
			}
			return r
		}, want: guard.AuditAltered, seq: 3, subject: "f-4"},
		{name: "forged record put in place of one", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			r[2] = guard.SealAudit(guard.AuditRecord{At: r[2].At, Kind: "finding.resolved", Subject: "f-3"}, 3, r[1].Hash)
			return r
		}, want: guard.AuditInserted, seq: 4, subject: "f-4", reason: "record 3 was altered"},
		{name: "forged record appended to a copy", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			return slices.Insert(r, 3, guard.SealAudit(guard.AuditRecord{Kind: "x", Subject: "forged"}, 4, "0"))
		}, want: guard.AuditInserted, seq: 4, subject: "forged", reason: "its PrevHash 0 is not the hash"},
		{name: "Seq repeats", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return slices.Insert(r, 3, r[2]) },
			want: guard.AuditInserted, seq: 3, subject: "f-3", reason: "Seq 3 repeats"},
		{name: "Seq goes back", edit: func(r []guard.AuditRecord) []guard.AuditRecord { return append(r, r[1]) },
			want: guard.AuditInserted, seq: 2, subject: "f-2", reason: "Seq 2 comes after Seq 5"},
		{name: "two swapped: the first out of place shows as a gap", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			r[2], r[3] = r[3], r[2]
			return r
		}, want: guard.AuditRemoved, seq: 3, subject: "f-4"},
		{name: "Seq 0", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			return []guard.AuditRecord{guard.SealAudit(guard.AuditRecord{Kind: "k"}, 0, "")}
		}, want: guard.AuditInserted, seq: 0, reason: "starts at 1"},
		{name: "first record chained to something", edit: func(r []guard.AuditRecord) []guard.AuditRecord {
			return []guard.AuditRecord{guard.SealAudit(r[0], 1, r[4].Hash)}
		}, want: guard.AuditInserted, seq: 1, subject: "f-1", reason: "PrevHash must be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := guard.VerifyAudit(tc.edit(chain(5)))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("VerifyAudit: %v, want nil", err)
				}
				return
			}
			var ae *guard.AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyAudit: got %v, want an *AuditError", err)
			}
			if ae.Problem != tc.want || ae.Seq != tc.seq || ae.Subject != tc.subject || !strings.Contains(ae.Reason, tc.reason) {
				t.Errorf("VerifyAudit: got %s Seq %d subject %q (%s), want %s Seq %d subject %q with %q",
					ae.Problem, ae.Seq, ae.Subject, ae.Reason, tc.want, tc.seq, tc.subject, tc.reason)
			}
			want := fmt.Sprintf("audit record %d (%s %s): %s: ", ae.Seq, ae.Kind, ae.Subject, ae.Problem)
			if ae.Problem == guard.AuditRemoved {
				want = fmt.Sprintf("audit record %d: removed: ", ae.Seq)
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error(): got %q, want it to start with %q", err, want)
			}
		})
	}
}

// TestAuditVerifierPages: records fed one page at a time verify as a whole;
// after the first problem, every Add returns it and the counts stay.
func TestAuditVerifierPages(t *testing.T) {
	recs := chain(7)
	var v guard.AuditVerifier
	for _, page := range [][]guard.AuditRecord{recs[:3], recs[3:6], recs[6:]} {
		for _, rec := range page {
			if err := v.Add(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v.Verified() != 7 || v.Last().Hash != recs[6].Hash {
		t.Errorf("after 7 records: Verified %d, Last hash %s; want 7, %s", v.Verified(), v.Last().Hash, recs[6].Hash)
	}

	bad := chain(3)
	bad[1].Subject = "x"
	v = guard.AuditVerifier{}
	var errs []error
	for _, rec := range bad {
		errs = append(errs, v.Add(rec))
	}
	var ae *guard.AuditError
	if errs[0] != nil || !errors.As(errs[1], &ae) || errs[2] != errs[1] {
		t.Fatalf("Add errors: %v, want nil then the same *AuditError twice", errs)
	}
	if ae.Verified != 1 || v.Verified() != 1 || v.Last().Seq != 1 {
		t.Errorf("after the bad record: error's Verified %d, Verified() %d, Last Seq %d; want 1, 1, 1", ae.Verified, v.Verified(), v.Last().Seq)
	}
}
