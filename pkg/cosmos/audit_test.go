package cosmos

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/storetest"
)

// TestAuditTamper: records edited or deleted with azcosmos, behind the store's
// back, are named by VerifyAudit.
func TestAuditTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) guard.Store { return openTest(t) }, storetest.Tamper{
		Alter: func(t *testing.T, s guard.Store, seq int64) {
			alterAudit(t, s.(*Store), seq, func(d *auditDoc) { d.Data = strings.Replace(d.Data, "residency", "encryption", 1) })
		},
		Remove: func(t *testing.T, s guard.Store, seq int64) { removeAudit(t, s.(*Store), seq) },
	})
}

// alterAudit replaces the stored document of record seq with what edit makes
// of it.
func alterAudit(t *testing.T, s *Store, seq int64, edit func(*auditDoc)) {
	t.Helper()
	pk, id := azcosmos.NewPartitionKeyString(s.bucketOf(seq)), strconv.FormatInt(seq, 10)
	c := s.container(cAudit)
	resp, err := c.ReadItem(t.Context(), pk, id, nil)
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
	if _, err := c.ReplaceItem(t.Context(), pk, id, b, nil); err != nil {
		t.Fatalf("replace record %d: %v", seq, err)
	}
}

// removeAudit deletes the stored document of record seq.
func removeAudit(t *testing.T, s *Store, seq int64) {
	t.Helper()
	pk, id := azcosmos.NewPartitionKeyString(s.bucketOf(seq)), strconv.FormatInt(seq, 10)
	if _, err := s.container(cAudit).DeleteItem(t.Context(), pk, id, nil); err != nil {
		t.Fatalf("delete record %d: %v", seq, err)
	}
}

func appendN(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: time.Now(), Kind: "test", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListAuditReadsPastRemovedBucketEnd: ListAudit stops at a bucket that
// ends short, as the trail ends there, unless the tail lies beyond: a record
// removed at a bucket's end, or a whole bucket, must show as a gap rather than
// as the end of the trail (which would hide every record after it).
func TestListAuditReadsPastRemovedBucketEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		removed []int64
		reason  string
	}{
		{"the last record of a bucket", []int64{19}, "record 19 is missing"},
		{"a whole bucket", []int64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, "records 10 to 19 are missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			s.auditBucket = 10 // bucket 1 holds Seqs 10 to 19, bucket 2 20 to 29
			appendN(t, s, 25)
			for _, seq := range tc.removed {
				removeAudit(t, s, seq)
			}
			recs, err := s.ListAudit(t.Context(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := 25 - len(tc.removed); len(recs) != want || recs[len(recs)-1].Seq != 25 {
				t.Fatalf("ListAudit: got %d records, want %d up to Seq 25", len(recs), want)
			}
			first := tc.removed[0]
			var ae *guard.AuditError
			if err := guard.VerifyAudit(recs); !errors.As(err, &ae) || ae.Seq != first || ae.Problem != guard.AuditRemoved || !strings.Contains(ae.Reason, tc.reason) {
				t.Errorf("VerifyAudit: got %v, want record %d removed (%s)", err, first, tc.reason)
			}
			if page, err := s.ListAudit(t.Context(), first-1, 3); err != nil || len(page) != 3 || page[0].Seq != 20 {
				t.Errorf("ListAudit(%d, 3): got %v, %v; want 3 records from Seq 20", first-1, page, err)
			}
		})
	}
}

// TestAppendAuditRefusesToChainPastAHole: with the last record removed behind
// the store's back there is nothing to chain the next one to, and AppendAudit
// says so rather than start a new chain.
func TestAppendAuditRefusesToChainPastAHole(t *testing.T) {
	s := openTest(t)
	appendN(t, s, 3)
	removeAudit(t, s, 3)
	_, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: time.Now(), Kind: "test", Subject: "after"})
	if err == nil || !strings.Contains(err.Error(), "record 3, which record 4 must chain to, is missing") {
		t.Errorf("AppendAudit after the last record was removed: got %v, want an error saying record 3 is missing", err)
	}
}
