package cosmos

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/storetest"
)

// TestAuditTamper: records edited or deleted with azcosmos, behind the store's
// back, are named by VerifyAudit.
func TestAuditTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) guard.Store { return openTest(t) }, storetest.Tamper{
		Alter: func(t *testing.T, s guard.Store, partition string, seq int64) {
			alterAudit(t, s.(*Store), partition, seq, func(d *auditDoc) {
				d.Record.Subject = strings.ToUpper(d.Record.Subject) + " (edited)"
			})
		},
		Remove: func(t *testing.T, s guard.Store, partition string, seq int64) {
			removeAudit(t, s.(*Store), partition, seq)
		},
	})
}

// alterAudit replaces the stored document of record seq of the partition with
// what edit makes of it.
func alterAudit(t *testing.T, s *Store, partition string, seq int64, edit func(*auditDoc)) {
	t.Helper()
	c := s.container(cPartitions)
	resp, err := c.ReadItem(t.Context(), partitionKey(partition), auditDocID(seq), nil)
	if err != nil {
		t.Fatalf("read record %d: %v", seq, err)
	}
	var d auditDoc
	if err := json.Unmarshal(resp.Value, &d); err != nil {
		t.Fatalf("decode record %d: %v", seq, err)
	}
	edit(&d)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReplaceItem(t.Context(), partitionKey(partition), d.ID, b, nil); err != nil {
		t.Fatalf("replace record %d: %v", seq, err)
	}
}

// removeAudit deletes the stored document of record seq of the partition.
func removeAudit(t *testing.T, s *Store, partition string, seq int64) {
	t.Helper()
	if _, err := s.container(cPartitions).DeleteItem(t.Context(), partitionKey(partition), auditDocID(seq), nil); err != nil {
		t.Fatalf("delete record %d: %v", seq, err)
	}
}
