package sqlite_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// legacyFile writes the store file main's exportguard made before partitions
// (testdata/legacy/sqlite-v1.db.gz: `exportguard replay --store sqlite:… `
// of storage-replication and jit-overstay, with a webhook target that never
// answers, so that it holds failed outbox items) to a new path.
func legacyFile(t *testing.T) string {
	t.Helper()
	gz, err := os.ReadFile(filepath.Join("..", "..", "testdata", "legacy", "sqlite-v1.db.gz"))
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

func TestOpenLegacy(t *testing.T) {
	ctx := context.Background()
	l, err := sqlite.OpenLegacy(legacyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fs, err := l.ListFindings(ctx)
	if err != nil || len(fs) != 8 {
		t.Fatalf("ListFindings: %d findings, %v; want 8", len(fs), err)
	}
	for _, f := range fs {
		if f.ID == "" || f.ResourceID == "" || f.Status == "" || f.FirstSeen.IsZero() {
			t.Errorf("finding decoded without its fields: %+v", f)
		}
	}
	rs, err := l.ListResources(ctx)
	if err != nil || len(rs) != 5 || len(rs[0].Body) == 0 || rs[0].ObservedAt.IsZero() {
		t.Fatalf("ListResources: %d resources (the first %+v), %v; want 5 with their bodies", len(rs), rs, err)
	}
	items, err := l.ListOutbox(ctx)
	if err != nil || len(items) != 10 {
		t.Fatalf("ListOutbox: %d items, %v; want 10", len(items), err)
	}
	failed := 0
	for _, it := range items {
		if it.Kind != "notify.webhook" || it.Attempts == 0 || it.LastError == "" || !strings.Contains(string(it.Payload), `"finding":{"id":`) || it.Partition != "" {
			t.Errorf("outbox item %s: kind %s, %d attempts, partition %q, payload %.40s; want a webhook notification tried, with its payload",
				it.ID, it.Kind, it.Attempts, it.Partition, it.Payload)
		}
		if it.Failed {
			failed++
		}
	}
	if failed == 0 || failed == len(items) {
		t.Errorf("%d of %d items failed, want some failed and some pending", failed, len(items))
	}
	gs, err := l.ListGrants(ctx)
	if err != nil || len(gs) != 0 {
		t.Fatalf("ListGrants: %v, %v; want none (the JIT grant was checked and deleted)", gs, err)
	}
	var all []guard.AuditRecord
	for after := int64(0); ; {
		page, err := l.ListAudit(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all, after = append(all, page...), page[len(page)-1].Seq
	}
	if len(all) != 43 || all[0].Seq != 1 || all[42].Seq != 43 {
		t.Fatalf("ListAudit: %d records, want Seq 1 to 43", len(all))
	}
	if err := guard.VerifyAudit(all); err != nil {
		t.Errorf("the old chain read back does not verify as v1: %v", err)
	}
	if page, err := l.ListAudit(ctx, 0, 0); err != nil || page != nil {
		t.Errorf("ListAudit with limit 0: %v, %v", page, err)
	}
}

func TestOpenLegacyRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlite.OpenLegacy(filepath.Join(dir, "none.db")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: %v", err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.OpenLegacy(other); err == nil || !strings.Contains(err.Error(), "schema version 2, not the layout before partitions") {
		t.Errorf("a file of another schema: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !os.IsNotExist(err) {
		t.Errorf("OpenLegacy created the file it was asked to read")
	}
}
