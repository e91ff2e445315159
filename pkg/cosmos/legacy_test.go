package cosmos

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// oldContainers are the containers of the layout before partitions, with their
// partition key paths.
var oldContainers = map[string]string{"findings": "/id", "resources": "/id", "ledger": "/id", "outbox": "/id",
	"audit": "/bucket", "grants": "/id", "poison": "/id"}

// makeOldLayout creates database o.Database with the containers of the old
// layout, dropped at cleanup, and returns it.
func makeOldLayout(t *testing.T, o Options) *azcosmos.DatabaseClient {
	t.Helper()
	client, err := newClient(o, o.Endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateDatabase(t.Context(), azcosmos.DatabaseProperties{ID: o.Database}, nil); err != nil {
		t.Fatalf("create database: %v", err)
	}
	db, err := client.NewDatabase(o.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Delete(t.Context(), nil); client.Close() })
	for name, pk := range oldContainers {
		_, err := db.CreateContainer(t.Context(), azcosmos.ContainerProperties{ID: name,
			PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{pk}}}, nil)
		if err != nil {
			t.Fatalf("create container %s: %v", name, err)
		}
	}
	return db
}

// put creates a document in a container of db.
func put(t *testing.T, db *azcosmos.DatabaseClient, container, pk string, doc any) {
	t.Helper()
	c, _ := db.NewContainer(container)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateItem(t.Context(), azcosmos.NewPartitionKeyString(pk), b, nil); err != nil {
		t.Fatalf("create in %s: %v", container, err)
	}
}

// TestLegacyReadsOldLayout: documents as the store before partitions wrote
// them are read back by OpenLegacy: findings (a pending transition dropped),
// resources, outbox items, grants, and the single audit chain, which verifies
// as a version 1 chain and pages by Seq.
func TestLegacyReadsOldLayout(t *testing.T) {
	o := testOptions(t, newDatabaseName())
	db := makeOldLayout(t, o)
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

	f := guard.Finding{ID: "f-1", Rule: guard.RuleResidencyLocation, Status: guard.StatusOpen, ResourceID: testResource,
		Evidence: map[string]any{"location": "westus"}, FirstSeen: at, LastSeen: at}
	put(t, db, "findings", "f-1", map[string]any{"id": "f-1", "idKey": guard.IDKey(testResource), "writeId": "w",
		"finding": json.RawMessage(mustJSON(t, f, `"pending":{"from":"","at":"2025-03-14T09:00:00Z","by":"p"}`))})
	r := guard.Resource{ID: testResource, Type: "Microsoft.Storage/storageAccounts", Location: "westus", ObservedAt: at,
		Body: json.RawMessage(`{"id":"x"}`)}
	put(t, db, "resources", "~r", map[string]any{"id": "~r", "idKey": guard.IDKey(testResource), "resource": r})
	it := guard.OutboxItem{ID: "notify-1", Kind: "notify.teams", Payload: json.RawMessage(`{"findingId":"f-1"}`),
		CreatedAt: at, NextAttempt: at}
	put(t, db, "outbox", "notify-1", map[string]any{"id": "notify-1", "nextAt": timeKey(at), "enqueuedAt": timeKey(at), "item": it})
	g := guard.Grant{ID: "g-1", Rule: "jit", Kind: "jit", ResourceID: testResource, Start: at, End: at.Add(time.Hour)}
	put(t, db, cGrants, "g-1", grantDoc{ID: "g-1", EndAt: timeKey(g.End), Grant: g})
	var chain []guard.AuditRecord
	prev := ""
	for seq := int64(1); seq <= 3; seq++ {
		rec := guard.SealAudit(guard.AuditRecord{At: at.Add(time.Duration(seq) * time.Second), Kind: "test",
			Subject: fmt.Sprint(seq), Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, seq))}, seq, prev)
		prev = rec.Hash
		chain = append(chain, rec)
		stored := rec
		stored.Data, stored.Seq = nil, 0
		put(t, db, "audit", "0", map[string]any{"id": strconv.FormatInt(seq, 10), "bucket": "0", "seq": seq,
			"writeId": "w", "record": stored, "data": string(rec.Data)})
	}
	put(t, db, "audit", "tail", map[string]any{"id": "tail", "bucket": "tail", "seq": 3})

	l, err := OpenLegacy(t.Context(), o)
	if err != nil {
		t.Fatalf("OpenLegacy: %v", err)
	}
	defer l.Close()
	check := func(what string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	fs, err := l.ListFindings(t.Context())
	check("ListFindings", []guard.Finding{f}, fs, err)
	rs, err := l.ListResources(t.Context())
	check("ListResources", []guard.Resource{r}, rs, err)
	its, err := l.ListOutbox(t.Context())
	check("ListOutbox", []guard.OutboxItem{it}, its, err)
	gs, err := l.ListGrants(t.Context())
	check("ListGrants", []guard.Grant{g}, gs, err)
	page1, err := l.ListAudit(t.Context(), 0, 2)
	check("ListAudit(0, 2)", chain[:2], page1, err)
	page2, err := l.ListAudit(t.Context(), 2, 2)
	check("ListAudit(2, 2)", chain[2:], page2, err)
	if err := guard.VerifyAudit(append(page1, page2...)); err != nil {
		t.Errorf("VerifyAudit of the old chain: %v", err)
	}
}

// mustJSON marshals f and adds the extra members to its object.
func mustJSON(t *testing.T, f guard.Finding, extra string) []byte {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(b[:len(b)-1], ','), extra+"}"...)
}
