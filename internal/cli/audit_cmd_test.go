package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// replayedStore replays sessions into a new sqlite file store and returns its
// path.
func replayedStore(t *testing.T, sessions ...string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "trail.db")
	replayInto(t, db, sessions...)
	return db
}

func replayInto(t *testing.T, db string, sessions ...string) {
	t.Helper()
	if len(sessions) == 0 {
		sessions = []string{"storage-replication"}
	}
	for _, s := range sessions {
		if _, stderr, err := run(t, "replay", "--store", "sqlite:"+db, "testdata/sessions/"+s+".ndjson"); err != nil {
			t.Fatalf("replay %s: %v\n%s", s, err, stderr)
		}
	}
}

// openTestStore opens the sqlite store at db for a test to read or write.
func openTestStore(t *testing.T, db string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storeTrail reads a store's whole trail: each partition's chain by
// partition (the seals under guard.SealPartition).
func storeTrail(t *testing.T, st guard.Store) map[string][]guard.AuditRecord {
	t.Helper()
	ctx := context.Background()
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]guard.AuditRecord{}
	for _, h := range heads {
		if err := guard.WalkAudit(ctx, st, h.Partition, 100, func(r guard.AuditRecord) error {
			out[h.Partition] = append(out[h.Partition], r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sealStore appends a seal of every partition's head, as the sweep timer
// does, and returns it.
func sealStore(t *testing.T, db string) guard.AuditRecord {
	t.Helper()
	st := openTestStore(t, db)
	ctx := context.Background()
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var hs []guard.AuditHead
	for _, h := range heads {
		if h.Partition != guard.SealPartition {
			hs = append(hs, h)
		}
	}
	raw, err := json.Marshal(guard.NewSealData(hs))
	if err != nil {
		t.Fatal(err)
	}
	seal, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: guard.SealPartition, At: time.Now(), Kind: guard.SealKind, Subject: "test", Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return seal
}

// sealedStore is a store with a replay of storage-replication, sealed (by
// the replay's sweeps, and by sealStore), and one of jit-overstay after it; its
// trail, its last seal, and the partitions with records newer than every seal
// naming them (unsealed).
func sealedStore(t *testing.T) (db string, seal guard.AuditRecord, trail map[string][]guard.AuditRecord, unsealed []string) {
	t.Helper()
	db = replayedStore(t)
	sealStore(t, db)
	replayInto(t, db, "jit-overstay")
	trail = storeTrail(t, openTestStore(t, db))
	seals := trail[guard.SealPartition]
	if len(seals) == 0 {
		t.Fatal("no seal")
	}
	seal = seals[len(seals)-1]
	sealed := sealedSeqs(t, seals)
	for p, recs := range trail {
		if p != guard.SealPartition && recs[len(recs)-1].Seq > sealed[p] {
			unsealed = append(unsealed, p)
		}
	}
	slices.Sort(unsealed)
	if len(trail) < 3 || len(unsealed) == 0 {
		t.Fatalf("the replays left %d chains, %d of them with records newer than the seals; want more to work with", len(trail), len(unsealed))
	}
	return db, seal, trail, unsealed
}

// sealedSeqs is the highest Seq any of these seals names, by partition.
func sealedSeqs(t *testing.T, seals []guard.AuditRecord) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, s := range seals {
		var sd guard.SealData
		if err := json.Unmarshal(s.Data, &sd); err != nil {
			t.Fatal(err)
		}
		for _, h := range sd.Heads {
			out[h.Partition] = max(out[h.Partition], h.Seq)
		}
	}
	return out
}

// execSQL changes the store file behind exportguard's back.
func execSQL(t *testing.T, db, stmt string, args ...any) {
	t.Helper()
	h, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.ExecContext(context.Background(), stmt, args...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows changed, want 1", stmt, n)
	}
}

func count(trail map[string][]guard.AuditRecord) (records, partitions int) {
	for p, recs := range trail {
		if p != guard.SealPartition {
			records, partitions = records+len(recs), partitions+1
		}
	}
	return records, partitions
}

var trailVerifiedLine = regexp.MustCompile(`^(\S+): (\d+) audit record\(s\) verified in (\d+) partition chain\(s\), and (\d+) seal\(s\); last seal Seq (\d+) hash ([0-9a-f]{64})\n`)

func TestAuditVerifyStore(t *testing.T) {
	t.Parallel()
	db, seal, trail, unsealed := sealedStore(t)
	out, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	if err != nil {
		t.Fatalf("audit verify of an untouched trail: %v", err)
	}
	records, partitions := count(trail)
	m := trailVerifiedLine.FindStringSubmatch(out)
	seals := strconv.Itoa(len(trail[guard.SealPartition]))
	if m == nil || m[2] != strconv.Itoa(records) || m[3] != strconv.Itoa(partitions) || m[4] != seals || m[5] != itoa(seal.Seq) || m[6] != seal.Hash {
		t.Errorf("audit verify printed\n%s\nwant %d records in %d partitions, %s seals, the last Seq %d hash %s", out, records, partitions, seals, seal.Seq, seal.Hash)
	}
	if !strings.Contains(out, "newer than the last seal") {
		t.Errorf("audit verify did not report the unsealed records:\n%s", out)
	}
	for _, p := range unsealed {
		if !strings.Contains(out, "  "+p+": Seq ") {
			t.Errorf("audit verify did not list partition %s as unsealed:\n%s", p, out)
		}
	}

	if out2, _, err := runApp(t, envApp(map[string]string{envStore: "sqlite:" + db}), "audit", "verify"); err != nil || out2 != out {
		t.Errorf("audit verify with EXPORTGUARD_STORE: got %q, %v; want %q", out2, err, out)
	}

	sealStore(t, db)
	if out, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db); err != nil || !strings.Contains(out, "every record is sealed") {
		t.Errorf("audit verify after a seal of every head: %q, %v", out, err)
	}
}

// exportLines exports a store's trail and returns its lines (without "\n").
func exportLines(t *testing.T, db string) []string {
	t.Helper()
	out, _, err := run(t, "audit", "export", "--store", "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "trail.jsonl")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func parseLine(t *testing.T, line string) guard.AuditRecord {
	t.Helper()
	var r guard.AuditRecord
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func formatLine(t *testing.T, r guard.AuditRecord) string {
	t.Helper()
	b, err := auditLine(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// lineOf returns the index of the line of record seq of partition p.
func lineOf(t *testing.T, lines []string, p string, seq int64) int {
	t.Helper()
	for i, l := range lines {
		if r := parseLine(t, l); r.Partition == p && r.Seq == seq {
			return i
		}
	}
	t.Fatalf("no line of partition %s Seq %d", p, seq)
	return -1
}

// resealLast rewrites the last seal's data with a valid hash: what a writer of
// the store could do.
func resealLast(t *testing.T, lines []string, edit func(*guard.SealData)) {
	t.Helper()
	i := len(lines) - 1
	r := parseLine(t, lines[i])
	var sd guard.SealData
	if err := json.Unmarshal(r.Data, &sd); err != nil {
		t.Fatal(err)
	}
	edit(&sd)
	r.Data, _ = json.Marshal(sd)
	r.Hash = guard.AuditHash(r)
	lines[i] = formatLine(t, r)
}

// TestAuditVerifyNamesTheBadRecord: an export of a sealed store, tampered
// with, names the first bad record: its partition, Seq, kind and subject.
func TestAuditVerifyNamesTheBadRecord(t *testing.T) {
	t.Parallel()
	db, lastSeal, trail, _ := sealedStore(t)
	seals := trail[guard.SealPartition]
	sealed := sealedSeqs(t, seals)
	var p string // a sealed partition with two records at least
	for q, seq := range sealed {
		if seq >= 2 && (p == "" || q < p) {
			p = q
		}
	}
	if p == "" {
		t.Fatal("no sealed partition with two records")
	}
	// The first record of p a seal names.
	firstSealed := sealed[p]
	for _, s := range seals {
		var sd guard.SealData
		_ = json.Unmarshal(s.Data, &sd)
		for _, h := range sd.Heads {
			if h.Partition == p {
				firstSealed = min(firstSealed, h.Seq)
			}
		}
	}
	rec2, seal1 := trail[p][1], seals[0]
	for _, tc := range []struct {
		name string
		edit func(lines []string) []string
		want []string
	}{
		{"a record altered", func(l []string) []string {
			i := lineOf(t, l, p, 2)
			l[i] = strings.Replace(l[i], `"subject":"`, `"subject":"x`, 1)
			return l
		}, []string{"partition " + p + ": audit record 2 (" + rec2.Kind + " x" + rec2.Subject + "): altered: its hash does not match its content"}},
		{"a record removed", func(l []string) []string {
			i := lineOf(t, l, p, 1)
			return append(l[:i:i], l[i+1:]...)
		}, []string{"partition " + p + ": audit record 1: removed: the trail starts at Seq 2"}},
		{"a record inserted", func(l []string) []string {
			i := lineOf(t, l, p, 2)
			r := parseLine(t, l[i])
			r.Subject, r.PrevHash = "forged", "0"
			r.Hash = guard.AuditHash(r)
			return append(l[:i:i], append([]string{formatLine(t, r)}, l[i:]...)...)
		}, []string{"partition " + p + ": audit record 2 (" + rec2.Kind + " forged): inserted: its PrevHash 0 is not the hash"}},
		{"a seal altered", func(l []string) []string {
			i := lineOf(t, l, guard.SealPartition, 1)
			l[i] = strings.Replace(l[i], `"subject":"`, `"subject":"x`, 1)
			return l
		}, []string{"partition ~seals: audit record 1 (seal x" + seal1.Subject + "): altered"}},
		{"a seal naming a head that does not exist", func(l []string) []string {
			resealLast(t, l, func(sd *guard.SealData) {
				*sd = guard.NewSealData(append(sd.Heads, guard.AuditHead{Partition: "/subscriptions/none", Seq: 3, Hash: rec2.Hash}))
			})
			return l
		}, []string{"partition /subscriptions/none: audit record 3: removed: seal " + itoa(lastSeal.Seq) + " names it, but the partition's chain ends at Seq 0"}},
		{"a seal with a wrong root", func(l []string) []string {
			resealLast(t, l, func(sd *guard.SealData) { sd.Root = strings.Repeat("0", 64) })
			return l
		}, []string{"partition ~seals: audit record " + itoa(lastSeal.Seq) + " (seal " + lastSeal.Subject + "): bad seal: its root 0000000000000000… is not the Merkle root"}},
		{"a partition rewritten after its seal", func(l []string) []string {
			// Its whole chain rewritten with valid hashes: only a seal shows
			// it, at the first record a seal names.
			prev := ""
			for seq := int64(1); seq <= int64(len(trail[p])); seq++ {
				i := lineOf(t, l, p, seq)
				r := parseLine(t, l[i])
				r.At = r.At.Add(time.Second)
				r.PrevHash = prev
				r.Hash = guard.AuditHash(r)
				prev, l[i] = r.Hash, formatLine(t, r)
			}
			return l
		}, []string{"partition " + p + ": audit record " + itoa(firstSealed) + " (" + trail[p][firstSealed-1].Kind + " " + trail[p][firstSealed-1].Subject + "): rewritten: its hash is",
			"the partition was rewritten at or before it after that seal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeLines(t, tc.edit(exportLines(t, db)))
			_, _, err := run(t, "audit", "verify", "--file", file)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("audit verify --file: got %v, want an error with %q", err, want)
				}
			}
		})
	}
}

// TestAuditVerifyNamesTheEditedStoreRecord: a record changed in the store
// file behind exportguard's back.
func TestAuditVerifyNamesTheEditedStoreRecord(t *testing.T) {
	t.Parallel()
	db, _, trail, _ := sealedStore(t)
	var p string
	for q := range trail {
		if q != guard.SealPartition && (p == "" || q < p) {
			p = q
		}
	}
	bad := trail[p][0]
	execSQL(t, db, `UPDATE audit SET data = CAST(replace(CAST(data AS TEXT), '"', '''') AS BLOB) WHERE partition = ? AND seq = 1`, p)
	_, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	want := "partition " + p + ": audit record 1 (" + bad.Kind + " " + bad.Subject + "): altered: its hash does not match its content"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("audit verify of an edited trail: got %v, want an error with %q", err, want)
	}
}

// TestAuditVerifyExpect: --expect catches what the chains alone cannot, a
// trail cut short or rewritten as a whole: SEQ:HASH names a seal,
// PARTITION@SEQ:HASH a partition's record.
func TestAuditVerifyExpect(t *testing.T) {
	t.Parallel()
	db, seal, trail, unsealed := sealedStore(t)
	store := "sqlite:" + db
	p := unsealed[0]
	for _, q := range unsealed {
		if len(trail[q]) > len(trail[p]) {
			p = q
		}
	}
	last := trail[p][len(trail[p])-1]
	resourceID := last.Subject // the change's resource: its partition is p
	if guard.PartitionOf(resourceID) != p {
		resourceID = p
	}
	want := "3 expected hash(es) match"
	if last.Seq == 1 {
		want = "2 expected hash(es) match"
	}
	out, _, err := run(t, "audit", "verify", "--store", store, "--expect", itoa(seal.Seq)+":"+seal.Hash,
		"--expect", p+"@"+itoa(last.Seq)+":"+strings.ToUpper(last.Hash), "--expect", resourceID+"@1:"+trail[p][0].Hash)
	if err != nil || !strings.Contains(out, want) {
		t.Errorf("audit verify with the right hashes expected: %q, %v", out, err)
	}
	for name, tc := range map[string]struct{ expect, want string }{
		"another seal hash":        {itoa(seal.Seq) + ":" + last.Hash, "partition ~seals: audit record " + itoa(seal.Seq) + " (seal " + seal.Subject + "): not the expected hash"},
		"another record hash":      {p + "@1:" + seal.Hash, "partition " + p + ": audit record 1 ("},
		"a seal beyond the end":    {itoa(seal.Seq+1) + ":" + seal.Hash, "partition ~seals: audit record " + itoa(seal.Seq+1) + ": removed: --expect names it, but the seal chain ends at Seq " + itoa(seal.Seq)},
		"a record beyond the end":  {p + "@" + itoa(last.Seq+1) + ":" + last.Hash, "partition " + p + ": audit record " + itoa(last.Seq+1) + ": removed: --expect names it, but the partition's chain ends at Seq " + itoa(last.Seq)},
		"not a hash":               {"1:abc", `--expect "1:abc": want SEQ:HASH`},
		"not a Seq":                {"x:" + seal.Hash, "want SEQ:HASH"},
		"no separator":             {seal.Hash, "want SEQ:HASH"},
		"Seq 0 is no Seq":          {"0:" + seal.Hash, "want SEQ:HASH"},
		"an empty partition":       {"@1:" + seal.Hash, "want SEQ:HASH"},
		"a partition without Seqs": {p + "@:" + seal.Hash, "want SEQ:HASH"},
	} {
		if _, _, err := run(t, "audit", "verify", "--store", store, "--expect", tc.expect); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	db, seal, trail, _ := sealedStore(t)
	file := filepath.Join(t.TempDir(), "trail.jsonl")
	_, stderr, err := run(t, "audit", "export", "--store", "sqlite:"+db, "-o", file)
	if err != nil {
		t.Fatal(err)
	}
	records, partitions := count(trail)
	seals := len(trail[guard.SealPartition])
	if want := "exported " + strconv.Itoa(records+seals) + " audit record(s) of sqlite:" + db + " to " + file + ": " + strconv.Itoa(partitions) +
		" partition chain(s) and " + strconv.Itoa(seals) + " seal(s); last seal Seq " + itoa(seal.Seq) + " hash " + seal.Hash; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != records+seals {
		t.Fatalf("%d lines, want %d records and %d seals", len(lines), records, seals)
	}
	// Partition by partition, each in Seq order, then the seals; every record
	// as the store keeps it.
	got := map[string][]guard.AuditRecord{}
	var order []string
	for i, line := range lines {
		if !json.Valid([]byte(line)) || !strings.HasPrefix(line, `{"partition":"`) {
			t.Fatalf("line %d is not JSON starting with its partition: %q", i+1, line)
		}
		r := parseLine(t, line)
		if len(order) == 0 || order[len(order)-1] != r.Partition {
			order = append(order, r.Partition)
		}
		got[r.Partition] = append(got[r.Partition], r)
	}
	if len(order) != partitions+1 || order[len(order)-1] != guard.SealPartition {
		t.Errorf("chains in the order %v, want each partition once, then the seals", order)
	}
	for p, recs := range trail {
		if len(got[p]) != len(recs) {
			t.Errorf("partition %s: %d records exported, the store has %d", p, len(got[p]), len(recs))
			continue
		}
		for i := range recs {
			if a, b := recs[i], got[p][i]; a.Seq != b.Seq || a.Hash != b.Hash || !a.At.Equal(b.At) || !bytes.Equal(a.Data, b.Data) {
				t.Errorf("partition %s record %d: exported %+v, the store has %+v", p, a.Seq, b, a)
			}
		}
	}

	stdout, _, err := run(t, "audit", "export", "--store", "sqlite:"+db)
	if err != nil || stdout != string(b) {
		t.Errorf("export to stdout: got %d bytes (%v), want the %d bytes of the file", len(stdout), err, len(b))
	}
	storeOut, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	fileOut, _, err := run(t, "audit", "verify", "--file", file)
	if err != nil || fileOut != strings.Replace(storeOut, "sqlite:"+db, file, 1) {
		t.Errorf("audit verify --file of the export: got %q, %v; want what verify of the store says:\n%s", fileOut, err, storeOut)
	}
}

// TestAuditVerifyV1Export: a file exported by exportguard before partitions
// (testdata/legacy/trail-v1.jsonl, by main's audit export of the store in
// testdata/legacy) still verifies, as the one chain it is.
func TestAuditVerifyV1Export(t *testing.T) {
	t.Parallel()
	const file = "testdata/legacy/trail-v1.jsonl"
	const last = "723a4f4eef2f3bda0ed72d078dbd98324174184a7805fc7a462700a6f9db0307"
	out, _, err := run(t, "audit", "verify", "--file", file, "--expect", "43:"+last)
	if want := file + ": 43 audit record(s) verified, one chain kept before partitions, Seq 1 to 43; last hash " + last + "\n1 expected hash(es) match\n"; err != nil || out != want {
		t.Errorf("audit verify of a v1 export: got %q, %v; want %q", out, err, want)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines[4] = strings.Replace(lines[4], `"at":"20`, `"at":"19`, 1)
	if _, _, err := run(t, "audit", "verify", "--file", writeLines(t, lines)); err == nil || !strings.Contains(err.Error(), "audit record 5 (") || !strings.Contains(err.Error(), "altered") {
		t.Errorf("audit verify of an edited v1 export: got %v, want record 5 named altered", err)
	}
	lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	r := parseLine(t, lines[1])
	r.Partition = "/subscriptions/x"
	lines[1] = formatLine(t, r)
	if _, _, err := run(t, "audit", "verify", "--file", writeLines(t, lines)); err == nil || !strings.Contains(err.Error(), "audit record 2 (") || !strings.Contains(err.Error(), "exported before partitions") {
		t.Errorf("a v1 export with a record of a partition: got %v", err)
	}
}

// TestAuditExportKeepsDataVerbatim: data the store keeps with spacing and
// characters encoding/json would escape is exported byte for byte (its hash
// covers the bytes); data that is not JSON on one line is refused by name.
func TestAuditExportKeepsDataVerbatim(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "verbatim.db")
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	const p = "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/v"
	for _, d := range []string{`{ "note" : "<a & b>",  "n": 1.50 }`, ``, `"\u00e9 é"`} {
		if _, err := st.AppendAudit(context.Background(), guard.AuditRecord{Partition: p, At: time.Now(), Kind: "k", Subject: "s", Data: json.RawMessage(d)}); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := run(t, "audit", "export", "--store", "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"data":{ "note" : "<a & b>",  "n": 1.50 },`) || !strings.Contains(out, `"data":"\u00e9 é",`) {
		t.Errorf("export did not keep data verbatim:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "verbatim.jsonl")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "audit", "verify", "--file", file); err != nil {
		t.Errorf("audit verify --file: %v", err)
	}

	if _, err := st.AppendAudit(context.Background(), guard.AuditRecord{Partition: p, Kind: "k", Subject: "multi", Data: json.RawMessage("{\n}")}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	dest := filepath.Join(t.TempDir(), "partial.jsonl")
	_, _, err = run(t, "audit", "export", "--store", "sqlite:"+db, "-o", dest)
	if err == nil || !strings.Contains(err.Error(), "record 4 (k multi) of partition "+p+": its data is not JSON on one line") {
		t.Errorf("export of multi-line data: got %v, want record 4 named", err)
	}
	if _, statErr := os.Stat(dest); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("a failed export left %s behind (%v)", dest, statErr)
	}
}

func TestAuditErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no such store":  {[]string{"audit", "verify", "--store", "sqlite:" + missing}, "missing.db: no such file"},
		"memory store":   {[]string{"audit", "export", "--store", "memory:"}, "in-memory store holds nothing between runs"},
		"unknown store":  {[]string{"audit", "verify", "--store", "ftp:x"}, `unknown kind "ftp"`},
		"store and file": {[]string{"audit", "verify", "--store", "sqlite:x", "--file", "y"}, "if any flags in the group [store file] are set none of the others can be; [file store] were all set"},
		"no such file":   {[]string{"audit", "verify", "--file", filepath.Join(dir, "none.jsonl")}, "none.jsonl: no such file"},
		"unknown verb":   {[]string{"audit", "check"}, `unknown command "check"`},
		"stray argument": {[]string{"audit", "verify", "x.db"}, `unknown command "x.db"`},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit created the store it was asked to read (%v)", err)
	}

	empty := filepath.Join(dir, "empty.db")
	st, err := sqlite.Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out, _, err := run(t, "audit", "verify", "--store", "sqlite:"+empty); err != nil || !strings.Contains(out, "the audit trail is empty") {
		t.Errorf("verify of an empty trail: got %q, %v; want it said empty, and no error", out, err)
	}
	if _, _, err := run(t, "audit", "export", "--store", "sqlite:"+empty, "-o", filepath.Join(dir, "no", "x.jsonl")); err == nil ||
		!strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("export into a missing directory: got %v, want the reason", err)
	}

	notJSON := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(notJSON, []byte("\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "audit", "verify", "--file", notJSON); err == nil || !strings.Contains(err.Error(), "line 2: not an audit record") {
		t.Errorf("verify of a file that is not an export: got %v, want line 2 named", err)
	}
}

func TestAuditHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"audit", "--help"}, {"audit", "verify", "--help"}, {"audit", "export", "--help"}, {"audit"}} {
		out, _, err := run(t, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: got %v and\n%s\nwant usage", args, err, out)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
