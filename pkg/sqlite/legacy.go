package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver, also when nothing else of the package is used

	"github.com/exportguard/exportguard/pkg/guard"
)

// legacySchemaVersion is the PRAGMA user_version of a file kept in the layout
// before partitions (one findings, resources, ledger, grants, outbox and audit
// table, one audit chain).
const legacySchemaVersion = 1

var _ guard.LegacyStore = (*Legacy)(nil)

// Legacy reads a store file of the layout before partitions, for `exportguard
// store migrate`. It reads that layout's tables with its own statements, and
// never writes: it does not depend on, or bring the file to, the schema Open
// keeps.
type Legacy struct {
	db   *sql.DB
	path string
}

// OpenLegacy opens the file at path, which must exist and hold the old layout.
func OpenLegacy(path string) (*Legacy, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: open legacy store: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open legacy store %s: %w", path, err)
	}
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	db, err := sql.Open("sqlite", "file://"+p+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open legacy store %s: %w", path, err)
	}
	l := &Legacy{db: db, path: path}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open legacy store %s: read schema version: %w", path, err)
	}
	if version != legacySchemaVersion {
		db.Close()
		return nil, fmt.Errorf("sqlite: open legacy store %s: schema version %d, not the layout before partitions (%d)", path, version, legacySchemaVersion)
	}
	return l, nil
}

// Close closes the file.
func (l *Legacy) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close legacy store %s: %w", l.path, err)
	}
	return nil
}

// ListFindings returns every finding, by resource ID key, rule and ID. A
// transition the old pipeline had not finished (its "pending" beside the
// finding) is not part of a guard.Finding and is not returned.
func (l *Legacy) ListFindings(ctx context.Context) ([]guard.Finding, error) {
	return legacyList(ctx, l, "findings", "SELECT doc, NULL FROM findings ORDER BY id_key, rule, id", nil,
		func(doc string, _ []byte) (guard.Finding, error) {
			var f guard.Finding
			err := json.Unmarshal([]byte(doc), &f)
			return f, err
		})
}

// ListResources returns every resource with a known state, by ID key.
func (l *Legacy) ListResources(ctx context.Context) ([]guard.Resource, error) {
	return legacyList(ctx, l, "resources", "SELECT doc, body FROM resources ORDER BY id_key", nil,
		func(doc string, body []byte) (guard.Resource, error) {
			var r guard.Resource
			err := json.Unmarshal([]byte(doc), &r)
			if len(body) > 0 {
				r.Body = json.RawMessage(body)
			}
			return r, err
		})
}

// ListOutbox returns every outbox item, in the order they were enqueued.
func (l *Legacy) ListOutbox(ctx context.Context) ([]guard.OutboxItem, error) {
	return legacyList(ctx, l, "outbox", "SELECT doc, payload FROM outbox ORDER BY rowid", nil,
		func(doc string, payload []byte) (guard.OutboxItem, error) {
			var it guard.OutboxItem
			err := json.Unmarshal([]byte(doc), &it)
			if len(payload) > 0 {
				it.Payload = json.RawMessage(payload)
			}
			return it, err
		})
}

// ListGrants returns every grant, by End then ID.
func (l *Legacy) ListGrants(ctx context.Context) ([]guard.Grant, error) {
	return legacyList(ctx, l, "grants", "SELECT doc, details FROM grants ORDER BY end_at, id", nil,
		func(doc string, details []byte) (guard.Grant, error) {
			var g guard.Grant
			err := json.Unmarshal([]byte(doc), &g)
			if len(details) > 0 {
				g.Details = json.RawMessage(details)
			}
			return g, err
		})
}

// ListAudit returns up to limit records of the single chain with Seq greater
// than after, in Seq order, as stored (Data byte for byte).
func (l *Legacy) ListAudit(ctx context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The old doc has every field but seq and data: seq is the row's key.
	return legacyList(ctx, l, "audit", "SELECT json_set(doc, '$.seq', seq), data FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", []any{after, limit},
		func(doc string, data []byte) (guard.AuditRecord, error) {
			var rec guard.AuditRecord
			err := json.Unmarshal([]byte(doc), &rec)
			rec.Partition, rec.Data = "", nil
			if len(data) > 0 {
				rec.Data = json.RawMessage(data)
			}
			return rec, err
		})
}

// legacyList runs a query of (doc, blob) rows and decodes each.
func legacyList[T any](ctx context.Context, l *Legacy, table, query string, args []any, decode func(doc string, blob []byte) (T, error)) ([]T, error) {
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: legacy store %s: read %s: %w", l.path, table, err)
	}
	defer rows.Close()
	var out []T
	for n := 1; rows.Next(); n++ {
		var doc string
		var blob []byte
		if err := rows.Scan(&doc, &blob); err != nil {
			return nil, fmt.Errorf("sqlite: legacy store %s: read %s: %w", l.path, table, err)
		}
		v, err := decode(doc, blob)
		if err != nil {
			return nil, fmt.Errorf("sqlite: legacy store %s: decode row %d of %s: %w", l.path, n, table, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: legacy store %s: read %s: %w", l.path, table, err)
	}
	return out, nil
}
