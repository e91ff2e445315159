package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// replayedStore replays a session into a new sqlite file store and returns
// its path and trail.
func replayedStore(t *testing.T) (string, []guard.AuditRecord) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "trail.db")
	if _, stderr, err := run(t, "replay", "--store", "sqlite:"+db, "testdata/sessions/storage-replication.ndjson"); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	return db, listTrail(t, db)
}

func listTrail(t *testing.T, db string) []guard.AuditRecord {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []guard.AuditRecord // every partition's (issue 15; the auditcli branch rewrites these tests)
	err = walkAudit(context.Background(), st, func(r guard.AuditRecord) error { recs = append(recs, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 5 {
		t.Fatalf("the replay left %d audit records, want a few more to tamper with", len(recs))
	}
	return recs
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

var verifiedLine = regexp.MustCompile(`^sqlite:\S+: (\d+) audit record\(s\) verified, Seq 1 to (\d+); last hash ([0-9a-f]{64})\n`)

func TestAuditVerifyAfterReplay(t *testing.T) {
	db, recs := replayedStore(t)
	out, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	if err != nil {
		t.Fatalf("audit verify of an untouched trail: %v", err)
	}
	m := verifiedLine.FindStringSubmatch(out)
	last := recs[len(recs)-1]
	if m == nil || m[1] != m[2] || m[2] != itoa(last.Seq) || m[3] != last.Hash {
		t.Errorf("audit verify printed %q, want %d records verified and last hash %s", out, last.Seq, last.Hash)
	}

	t.Setenv(envStore, "sqlite:"+db)
	if out2, _, err := run(t, "audit", "verify"); err != nil || out2 != out {
		t.Errorf("audit verify with EXPORTGUARD_STORE: got %q, %v; want %q", out2, err, out)
	}
}

func TestAuditVerifyNamesTheEditedRecord(t *testing.T) {
	db, recs := replayedStore(t)
	bad := recs[2]
	// Its data as stored, every double quote made a single one: what the
	// finding said, rewritten.
	execSQL(t, db, `UPDATE audit SET data = CAST(replace(CAST(data AS TEXT), '"', '''') AS BLOB) WHERE seq = ?`, bad.Seq)
	_, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	want := "audit record " + itoa(bad.Seq) + " (" + bad.Kind + " " + bad.Subject + "): altered: its hash does not match its content"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("audit verify of an edited trail: got %v, want an error with %q", err, want)
	}
}

func TestAuditVerifyNamesTheRemovedRecord(t *testing.T) {
	db, recs := replayedStore(t)
	execSQL(t, db, `DELETE FROM audit WHERE seq = ?`, recs[3].Seq)
	_, _, err := run(t, "audit", "verify", "--store", "sqlite:"+db)
	want := "audit record " + itoa(recs[3].Seq) + ": removed: Seq jumps from " + itoa(recs[2].Seq) + " to " + itoa(recs[4].Seq)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("audit verify of a trail missing a record: got %v, want an error with %q", err, want)
	}
}

// TestAuditVerifyExpect: --expect catches what the chain alone cannot, a trail
// cut short or rewritten as a whole.
func TestAuditVerifyExpect(t *testing.T) {
	db, recs := replayedStore(t)
	last := recs[len(recs)-1]
	store := "sqlite:" + db
	if _, _, err := run(t, "audit", "verify", "--store", store, "--expect", itoa(last.Seq)+":"+last.Hash,
		"--expect", itoa(recs[0].Seq)+":"+strings.ToUpper(recs[0].Hash)); err != nil {
		t.Errorf("audit verify with the right hashes expected: %v", err)
	}
	for name, tc := range map[string]struct{ expect, want string }{
		"another hash":    {itoa(last.Seq) + ":" + recs[0].Hash, "audit record " + itoa(last.Seq) + " (" + last.Kind},
		"beyond the end":  {itoa(last.Seq+1) + ":" + last.Hash, "audit record " + itoa(last.Seq+1) + ": removed: --expect names it, but the trail ends at Seq " + itoa(last.Seq)},
		"not a hash":      {"1:abc", `--expect "1:abc": want SEQ:HASH`},
		"not a Seq":       {"x:" + last.Hash, "want SEQ:HASH"},
		"no separator":    {last.Hash, "want SEQ:HASH"},
		"Seq 0 is no Seq": {"0:" + last.Hash, "want SEQ:HASH"},
	} {
		if _, _, err := run(t, "audit", "verify", "--store", store, "--expect", tc.expect); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
}

func TestAuditExport(t *testing.T) {
	db, recs := replayedStore(t)
	file := filepath.Join(t.TempDir(), "trail.jsonl")
	_, stderr, err := run(t, "audit", "export", "--store", "sqlite:"+db, "-o", file)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if want := "exported " + itoa(int64(len(recs))) + " audit record(s)"; !strings.Contains(stderr, want) || !strings.Contains(stderr, last.Hash) {
		t.Errorf("stderr %q lacks %q and the last hash", stderr, want)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got []guard.AuditRecord
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %q", i+1, line)
		}
		var rec guard.AuditRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	if err := guard.VerifyAudit(got); err != nil {
		t.Errorf("VerifyAudit of the exported lines: %v", err)
	}
	if d := cmp.Diff(recs, got); d != "" {
		t.Errorf("exported records differ from the store's (-store +export):\n%s", d)
	}

	stdout, _, err := run(t, "audit", "export", "--store", "sqlite:"+db)
	if err != nil || stdout != string(b) {
		t.Errorf("export to stdout: got %d bytes (%v), want the %d bytes of the file", len(stdout), err, len(b))
	}
	if out, _, err := run(t, "audit", "verify", "--file", file); err != nil || !strings.Contains(out, "last hash "+last.Hash) {
		t.Errorf("audit verify --file of the export: got %q, %v", out, err)
	}

	edited := filepath.Join(t.TempDir(), "edited.jsonl")
	if err := os.WriteFile(edited, bytes.Replace(b, []byte(`"seq":2,"at":"20`), []byte(`"seq":2,"at":"19`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "audit", "verify", "--file", edited); err == nil || !strings.Contains(err.Error(), "audit record 2 (") {
		t.Errorf("audit verify --file of an edited export: got %v, want record 2 named", err)
	}
}

// TestAuditExportKeepsDataVerbatim: data the store keeps with spacing and
// characters encoding/json would escape is exported byte for byte (its hash
// covers the bytes); data that is not JSON on one line is refused by name.
func TestAuditExportKeepsDataVerbatim(t *testing.T) {
	db := filepath.Join(t.TempDir(), "verbatim.db")
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{`{ "note" : "<a & b>",  "n": 1.50 }`, ``, `"\u00e9 é"`} {
		if _, err := st.AppendAudit(context.Background(), guard.AuditRecord{At: time.Now(), Kind: "k", Subject: "s", Data: json.RawMessage(d)}); err != nil {
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

	if _, err := st.AppendAudit(context.Background(), guard.AuditRecord{Kind: "k", Subject: "multi", Data: json.RawMessage("{\n}")}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	dest := filepath.Join(t.TempDir(), "partial.jsonl")
	_, _, err = run(t, "audit", "export", "--store", "sqlite:"+db, "-o", dest)
	if err == nil || !strings.Contains(err.Error(), "record 4 (k multi): its data is not JSON on one line") {
		t.Errorf("export of multi-line data: got %v, want record 4 named", err)
	}
	if _, statErr := os.Stat(dest); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("a failed export left %s behind (%v)", dest, statErr)
	}
}

func TestAuditErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no such store":  {[]string{"audit", "verify", "--store", "sqlite:" + missing}, "missing.db: no such file"},
		"memory store":   {[]string{"audit", "export", "--store", "memory:"}, "in-memory store holds no trail"},
		"unknown store":  {[]string{"audit", "verify", "--store", "ftp:x"}, `unknown kind "ftp"`},
		"store and file": {[]string{"audit", "verify", "--store", "sqlite:x", "--file", "y"}, "not both"},
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
	for _, args := range [][]string{{"audit", "--help"}, {"audit", "verify", "--help"}, {"audit", "export", "--help"}, {"audit"}} {
		out, _, err := run(t, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: got %v and\n%s\nwant usage", args, err, out)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
