package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// legacyHead is the head of the old chain in testdata/legacy/sqlite-v1.db.gz
// (the last line of testdata/legacy/trail-v1.jsonl, its export).
const legacyHead = "723a4f4eef2f3bda0ed72d078dbd98324174184a7805fc7a462700a6f9db0307"

// legacyStore writes the store file main's exportguard made before partitions
// (testdata/legacy/sqlite-v1.db.gz: `exportguard replay --store sqlite:…` of
// storage-replication and jit-overstay, with a webhook target that never
// answers) to a new path.
func legacyStore(t *testing.T) string {
	t.Helper()
	gz, err := os.ReadFile("testdata/legacy/sqlite-v1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// legacyContents reads what the old store holds.
func legacyContents(t *testing.T, path string) ([]guard.Finding, []guard.Resource, []guard.OutboxItem) {
	t.Helper()
	l, err := sqlite.OpenLegacy(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	fs, err := l.ListFindings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := l.ListResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	items, err := l.ListOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fs, rs, items
}

func TestStoreMigrate(t *testing.T) {
	t.Parallel()
	old := legacyStore(t)
	// A grant, as the old store kept it (the session's was checked and gone).
	execSQL(t, old, `INSERT INTO grants (id, end_at, doc, details) VALUES ('g-1', '2026-11-05T10:00:00Z',
		'{"id":"g-1","rule":"access.jit-overstay","kind":"jit","resourceId":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm","start":"2026-11-05T09:00:00Z","end":"2026-11-05T10:00:00Z"}',
		CAST('{"port":22}' AS BLOB))`)
	wantFindings, wantResources, wantItems := legacyContents(t, old)
	dst := filepath.Join(t.TempDir(), "new.db")
	out, _, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"migrated sqlite:" + old + " to sqlite:" + dst + ": 8 finding(s), 5 resource(s), 10 outbox item(s), 1 grant(s)",
		"the old audit trail's 43 record(s) verified; its head, Seq 43 hash " + legacyHead + ", is named by the new trail's first seal (Seq 1 hash "} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate printed\n%s\nwant %q", out, want)
		}
	}

	// The new trail verifies and names the legacy head in its first seal.
	out, _, err = run(t, "audit", "verify", "--store", "sqlite:"+dst)
	if err != nil || !strings.Contains(out, "the first seal names the head of the trail kept before partitions (migrated): Seq 43 hash "+legacyHead) ||
		!strings.Contains(out, "every record is sealed") {
		t.Errorf("audit verify of the migrated store: %v\n%s", err, out)
	}

	st := openTestStore(t, dst)
	ctx := context.Background()
	got, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantFindings, got); d != "" {
		t.Errorf("findings after migrate (-old +new):\n%s", d)
	}
	for _, r := range wantResources {
		g, err := st.GetResource(ctx, r.ID)
		if err != nil || g.ID != r.ID || !g.ObservedAt.Equal(r.ObservedAt) || !json.Valid(g.Body) || len(g.Body) == 0 {
			t.Errorf("resource %s after migrate: %+v, %v", r.ID, g, err)
		}
	}
	items, err := st.ListOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(wantItems) {
		t.Fatalf("%d outbox items after migrate, want %d", len(items), len(wantItems))
	}
	byID := map[string]guard.OutboxItem{}
	for _, it := range items {
		byID[it.ID] = it
	}
	partitionOf := map[string]string{}
	for _, f := range wantFindings {
		partitionOf[f.ID] = guard.PartitionOf(f.ResourceID)
	}
	for _, w := range wantItems {
		var p struct {
			Finding struct{ ID string } `json:"finding"`
		}
		_ = json.Unmarshal(w.Payload, &p)
		g := byID[w.ID]
		if g.Partition == "" || g.Partition != partitionOf[p.Finding.ID] || g.Failed != w.Failed || g.Attempts != w.Attempts ||
			g.LastError != w.LastError || !bytes.Equal(g.Payload, w.Payload) {
			t.Errorf("outbox item %s after migrate: partition %q, failed %v, %d attempts; want partition %q, failed %v, %d attempts, the payload as it was",
				w.ID, g.Partition, g.Failed, g.Attempts, partitionOf[p.Finding.ID], w.Failed, w.Attempts)
		}
	}
	if due, err := st.DueItems(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 100); err != nil || len(due) == 0 || len(due) == len(items) {
		t.Errorf("due items after migrate: %d of %d (%v); want the pending ones only, never the failed", len(due), len(items), err)
	}
	grants, err := st.DueGrants(ctx, time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC))
	if err != nil || len(grants) != 1 || grants[0].ID != "g-1" || string(grants[0].Details) != `{"port":22}` {
		t.Errorf("grants after migrate: %+v, %v", grants, err)
	}
	st.Close()

	// Twice: nothing changes.
	before := exportLines(t, dst)
	out, _, err = run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst)
	if err != nil || !strings.Contains(out, "was migrated to sqlite:"+dst+" already") {
		t.Errorf("migrate again: %q, %v; want it found done", out, err)
	}
	if after := exportLines(t, dst); !cmp.Equal(before, after) {
		t.Errorf("migrate again changed the trail:\n%s", cmp.Diff(before, after))
	}

	// The migrated store goes on: a replay into it, sealed by nothing yet.
	replayInto(t, dst, "location-public")
	if out, _, err := run(t, "audit", "verify", "--store", "sqlite:"+dst); err != nil || !strings.Contains(out, "newer than the last seal") {
		t.Errorf("audit verify after a replay into the migrated store: %v\n%s", err, out)
	}
}

// TestStoreMigrateResumes: a destination holding part of this store's
// migration (an interrupted run) is carried on.
func TestStoreMigrateResumes(t *testing.T) {
	t.Parallel()
	old := legacyStore(t)
	fs, _, _ := legacyContents(t, old)
	dst := filepath.Join(t.TempDir(), "new.db")
	st := openTestStore(t, dst)
	f := fs[3]
	if _, err := st.UpdateFinding(context.Background(), guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out, _, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst); err != nil || !strings.Contains(out, "8 finding(s)") {
		t.Fatalf("migrate into a half-migrated store: %q, %v", out, err)
	}
	if _, _, err := run(t, "audit", "verify", "--store", "sqlite:"+dst); err != nil {
		t.Errorf("audit verify: %v", err)
	}
}

func TestStoreMigrateBrokenChain(t *testing.T) {
	t.Parallel()
	old := legacyStore(t)
	execSQL(t, old, `UPDATE audit SET data = CAST(replace(CAST(data AS TEXT), 'East US', 'West Europe') AS BLOB) WHERE seq = 1`)
	dst := filepath.Join(t.TempDir(), "new.db")
	_, _, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst)
	if err == nil || !strings.Contains(err.Error(), "does not verify: audit record 1 (verdict ") || !strings.Contains(err.Error(), "altered") ||
		!strings.Contains(err.Error(), "nothing was migrated (--force") {
		t.Errorf("migrate of a broken chain: got %v, want record 1 named and nothing migrated", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused migration created the new store (%v)", err)
	}

	out, stderr, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst, "--force")
	if err != nil || !strings.Contains(out, "43 record(s) did NOT verify (--force)") || !strings.Contains(stderr, "migrating it anyway") {
		t.Fatalf("migrate --force: %v\n%s\n%s", err, out, stderr)
	}
	if _, _, err := run(t, "audit", "verify", "--store", "sqlite:"+dst); err != nil {
		t.Errorf("audit verify of the store migrated by force: %v", err)
	}
	trail := storeTrail(t, openTestStore(t, dst))
	recs := trail[migratePartition]
	if len(recs) != 1 {
		t.Fatalf("%d migration records, want 1", len(recs))
	}
	var m migration
	if err := json.Unmarshal(recs[0].Data, &m); err != nil || m.Verified || !strings.Contains(m.Problem, "audit record 1 (verdict") || m.Legacy.Hash != legacyHead {
		t.Errorf("the migration record: %+v, %v; want it to say the old chain did not verify, and why", m, err)
	}
}

func TestStoreMigrateRefuses(t *testing.T) {
	t.Parallel()
	old := legacyStore(t)
	dir := t.TempDir()
	used := replayedStore(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"a destination with data of its own": {[]string{"--from", "sqlite:" + old, "--to", "sqlite:" + used}, "holds an audit trail (partition /subscriptions/"},
		"the same store":                     {[]string{"--from", "sqlite:" + old, "--to", "sqlite:" + filepath.Join(filepath.Dir(old), ".", "old.db")}, "name the same store"},
		"into memory":                        {[]string{"--from", "sqlite:" + old, "--to", "memory:"}, "an in-memory store is gone"},
		"from memory":                        {[]string{"--from", "memory:", "--to", "sqlite:" + filepath.Join(dir, "x.db")}, "holds nothing to migrate"},
		"from a new store":                   {[]string{"--from", "sqlite:" + used, "--to", "sqlite:" + filepath.Join(dir, "y.db")}, "schema version 2, not the layout before partitions"},
		"from a missing file":                {[]string{"--from", "sqlite:" + filepath.Join(dir, "none.db"), "--to", "sqlite:" + filepath.Join(dir, "z.db")}, "no such file"},
		"from cosmos, a key in the URL":      {[]string{"--from", "cosmos:http://127.0.0.1:1/?database=x&accountKey=s3cr3t", "--to", "sqlite:" + filepath.Join(dir, "c.db")}, "the account key goes in COSMOS_KEY"},
		"without --to":                       {[]string{"--from", "sqlite:" + old}, "give --from URL"},
	} {
		_, _, err := run(t, append([]string{"store", "migrate"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	for _, f := range []string{"x.db", "y.db", "z.db", "c.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused migration created %s (%v)", f, err)
		}
	}

	// An outbox item about nothing the old store knows has no partition.
	execSQL(t, old, `INSERT INTO outbox (id, next_attempt, doc, payload) VALUES ('stray', '2026-11-05T10:00:00Z',
		'{"id":"stray","kind":"notify.teams","createdAt":"2026-11-05T10:00:00Z","nextAttempt":"2026-11-05T10:00:00Z","attempts":0}', CAST('{"x":1}' AS BLOB))`)
	dst := filepath.Join(dir, "stray.db")
	if _, _, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst); err == nil || !strings.Contains(err.Error(), "outbox item stray (notify.teams): its payload names no finding") {
		t.Errorf("migrate with a stray outbox item: %v", err)
	}
	if out, _, err := run(t, "store", "migrate", "--from", "sqlite:"+old, "--to", "sqlite:"+dst, "--force"); err != nil || !strings.Contains(out, "1 outbox item(s) about no finding known were left behind (--force): stray") {
		t.Errorf("migrate --force with a stray outbox item: %q, %v", out, err)
	}
}

func TestStoreHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"store"}, {"store", "migrate", "--help"}} {
		out, _, err := run(t, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: got %v and\n%s\nwant usage", args, err, out)
		}
	}
}
