package cosmos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
	"github.com/exportguard/exportguard/pkg/guard"
)

// These tests count, at the local server (GET /_counts), the requests a change
// costs when written through the store as the pipeline writes one (issue 15:
// one read and one transactional batch per judged change, one read per
// duplicate, nothing for a record no rule judges). They assert counts, never
// times. With -v they log requests and bytes, the figures in doc.go.

// storageBody is an ARM GET body of a storage account, of a realistic size.
const storageBody = `{"sku":{"name":"Standard_RAGRS","tier":"Standard"},"kind":"StorageV2",` +
	`"id":"%s","name":"sa","type":"Microsoft.Storage/storageAccounts","location":"%s",` +
	`"tags":{"costCenter":"1234","owner":"platform-team"},"properties":{"dnsEndpointType":"Standard",` +
	`"defaultToOAuthAuthentication":false,"publicNetworkAccess":"Enabled","keyCreationTime":{"key1":"2025-01-01T10:00:00.0000000Z","key2":"2025-01-01T10:00:00.0000000Z"},` +
	`"allowCrossTenantReplication":false,"privateEndpointConnections":[],"minimumTlsVersion":"TLS1_2","allowBlobPublicAccess":false,` +
	`"allowSharedKeyAccess":true,"networkAcls":{"bypass":"AzureServices","virtualNetworkRules":[],"ipRules":[],"defaultAction":"Allow"},` +
	`"supportsHttpsTrafficOnly":true,"encryption":{"requireInfrastructureEncryption":false,"services":{"file":{"keyType":"Account","enabled":true,` +
	`"lastEnabledTime":"2025-01-01T10:00:00.0000000Z"},"blob":{"keyType":"Account","enabled":true,"lastEnabledTime":"2025-01-01T10:00:00.0000000Z"}},` +
	`"keySource":"Microsoft.Storage"},"accessTier":"Hot","provisioningState":"Succeeded","creationTime":"2025-01-01T10:00:00.0000000Z",` +
	`"primaryEndpoints":{"dfs":"https://sa.dfs.core.windows.net/","web":"https://sa.z6.web.core.windows.net/","blob":"https://sa.blob.core.windows.net/",` +
	`"queue":"https://sa.queue.core.windows.net/","table":"https://sa.table.core.windows.net/","file":"https://sa.file.core.windows.net/"},` +
	`"primaryLocation":"%s","statusOfPrimary":"available","secondaryLocation":"northeurope","statusOfSecondary":"available"}}`

// change is one Activity Log write record of a storage account, as the
// pipeline judges it.
type change struct {
	resource, key, location string
	at                      time.Time
}

// writeChange writes a change through the store the way the pipeline does
// (issue 15): one Batch; in it the partition is read (the event key, the
// state before), each rule's verdict is an UpdateFinding, the change is one
// audit record with its verdicts and transitions, a transition enqueues a
// notification, and the key and the new state are stored. It reports whether
// the change was a duplicate.
func writeChange(ctx context.Context, s *Store, c change) (dup bool, err error) {
	p := guard.PartitionOf(c.resource)
	err = s.Batch(ctx, func(ctx context.Context) error {
		dup = false
		if done, err := s.Processed(ctx, p, c.key); err != nil || done {
			dup = done
			return err
		}
		if _, err := s.GetResource(ctx, c.resource); err != nil && !errors.Is(err, guard.ErrNotFound) {
			return err
		}
		type verdict struct {
			Rule, Status string
		}
		type transition struct {
			FindingID, Rule, ResourceID, From, To, Message string
		}
		var verdicts []verdict
		var transitions []transition
		for _, rule := range []string{guard.RuleResidencyLocation, "encryption.cmk"} {
			status := guard.StatusResolved
			if rule == guard.RuleResidencyLocation && c.location != "westeurope" {
				status = guard.StatusOpen
			}
			id := guard.FindingID(rule, c.resource, "")
			var from guard.Status
			_, err := s.UpdateFinding(ctx, p, id, func(cur *guard.Finding) (*guard.Finding, error) {
				if cur == nil && status == guard.StatusResolved {
					return nil, nil
				}
				next := guard.Finding{ID: id, Rule: rule, Severity: "high", Status: status, SubscriptionID: "s",
					ResourceID: c.resource, Message: "the storage account is in " + c.location,
					Evidence:  map[string]any{"location": c.location, "allowed": []string{"westeurope", "northeurope"}},
					FirstSeen: c.at, LastSeen: c.at}
				if cur != nil {
					from, next.FirstSeen = cur.Status, cur.FirstSeen
				}
				return &next, nil
			})
			if err != nil {
				return err
			}
			verdicts = append(verdicts, verdict{rule, string(status)})
			if from != status && !(from == "" && status == guard.StatusResolved) {
				transitions = append(transitions, transition{id, rule, c.resource, string(from), string(status), "moved"})
			}
		}
		data, err := json.Marshal(map[string]any{"eventKey": c.key, "operation": "Microsoft.Storage/storageAccounts/write",
			"caller": "someone@example.com", "correlationId": "c0ffee00-0000-0000-0000-000000000000", "resourceId": c.resource,
			"verdicts": verdicts, "transitions": transitions})
		if err != nil {
			return err
		}
		if _, err := s.AppendAudit(ctx, guard.AuditRecord{Partition: p, At: c.at, Kind: "change", Subject: c.resource, Data: data}); err != nil {
			return err
		}
		for _, tr := range transitions {
			payload, _ := json.Marshal(tr)
			if err := s.Enqueue(ctx, guard.OutboxItem{ID: "notify.teams:" + tr.FindingID + ":" + c.key, Partition: p, Kind: "notify.teams",
				Payload: payload, CreatedAt: c.at, NextAttempt: c.at}); err != nil {
				return err
			}
		}
		if err := s.MarkProcessed(ctx, p, c.key, c.at); err != nil {
			return err
		}
		r, err := guard.NewResource([]byte(fmt.Sprintf(storageBody, c.resource, c.location, c.location)), c.at)
		if err != nil {
			return err
		}
		return s.PutResource(ctx, r)
	})
	return dup, err
}

// counted runs fn and returns what the server counted meanwhile.
func counted(t *testing.T, endpoint string, fn func()) cosmostest.Counts {
	t.Helper()
	if _, err := cosmostest.ResetCounts(t.Context(), endpoint); err != nil {
		t.Fatal(err)
	}
	fn()
	c, err := cosmostest.ReadCounts(t.Context(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestsPerChange: a judged change costs one read of its partition and
// one transactional batch (one when its partition was read already in the
// delivery's Batch), a duplicate one read, a Batch that writes nothing none.
func TestRequestsPerChange(t *testing.T) {
	srv := cosmostest.StartForTest(t)
	o := testOptions(t, newDatabaseName())
	o.Endpoint = srv.Endpoint
	s := openWith(t, o)
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	sa := func(n int) string {
		return fmt.Sprintf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa%d", n)
	}
	write := func(c change, wantDup bool) func() {
		return func() {
			dup, err := writeChange(t.Context(), s, c)
			if err != nil || dup != wantDup {
				t.Fatalf("change %s: duplicate %v, %v; want duplicate %v", c.key, dup, err, wantDup)
			}
		}
	}
	first := change{sa(1), "event:eventhub:e1", "eastus", t0}
	for _, tc := range []struct {
		name                 string
		run                  func()
		requests, batches    int64
		reads                int64 // point reads (GET)
		maxRequestsPerChange float64
		changes              int
	}{
		{"judged change of a new resource (opens a finding)", write(first, false), 2, 1, 1, 2, 1},
		{"the same change again (duplicate)", write(first, true), 1, 0, 1, 1, 1},
		{"judged change, no transition", write(change{sa(1), "event:eventhub:e2", "eastus", t0.Add(time.Minute)}, false), 2, 1, 1, 2, 1},
		{"judged change that resolves the finding", write(change{sa(1), "event:eventhub:e3", "westeurope", t0.Add(2 * time.Minute)}, false), 2, 1, 1, 2, 1},
		{"a Batch that writes nothing (a record no rule judges)", func() {
			if err := s.Batch(t.Context(), func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 0, 0, 1},
		{"a delivery of 10 changes of one resource in one Batch", func() {
			err := s.Batch(t.Context(), func(ctx context.Context) error {
				for i := range 10 {
					loc := []string{"eastus", "westeurope"}[i%2]
					if _, err := writeChange(ctx, s, change{sa(2), fmt.Sprintf("event:eventhub:d%d", i), loc, t0.Add(time.Duration(i) * time.Second)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}, 11, 10, 1, 2, 10},
		{"a delivery of 10 changes of 10 resources in one Batch", func() {
			err := s.Batch(t.Context(), func(ctx context.Context) error {
				for i := range 10 {
					if _, err := writeChange(ctx, s, change{sa(10 + i), "event:eventhub:m", "eastus", t0}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}, 20, 10, 10, 2, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := counted(t, srv.Endpoint, tc.run)
			t.Logf("%d requests (%d point reads, %d batches of %d operations), %d bytes sent, %d received, per change: %.1f requests, %d bytes sent",
				c.Requests, c.ByMethod["GET"], c.Batches, c.BatchOps, c.BytesIn, c.BytesOut,
				float64(c.Requests)/float64(tc.changes), c.BytesIn/int64(tc.changes))
			if c.Requests != tc.requests || c.Batches != tc.batches || c.ByMethod["GET"] != tc.reads {
				t.Errorf("counted %d requests (%d point reads, %d batches), want %d (%d, %d): %+v",
					c.Requests, c.ByMethod["GET"], c.Batches, tc.requests, tc.reads, tc.batches, c)
			}
			if per := float64(c.Requests) / float64(tc.changes); per > tc.maxRequestsPerChange {
				t.Errorf("%.1f requests per change, want at most %.0f", per, tc.maxRequestsPerChange)
			}
		})
	}
}

// TestBytesPerChangeWithSeenKeys logs what a judged change sends when its
// partition's head holds many event keys (up to the cap of 2,000), for
// doc.go, and checks that the head keeps no more than the cap.
func TestBytesPerChangeWithSeenKeys(t *testing.T) {
	srv := cosmostest.StartForTest(t)
	o := testOptions(t, newDatabaseName())
	o.Endpoint = srv.Endpoint
	s := openWith(t, o)
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	marked := 0
	for _, keys := range []int{0, 100, 2000, 2500} {
		err := s.Batch(t.Context(), func(ctx context.Context) error {
			for i := marked; i < keys; i++ {
				if err := s.MarkProcessed(ctx, testPartition, fmt.Sprintf("event:eventhub:%08x-0000-0000-0000-000000000000", i), t0.Add(time.Duration(i)*time.Second)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		marked = keys
		at := t0.Add(time.Duration(keys+1) * time.Second)
		c := counted(t, srv.Endpoint, func() {
			if _, err := writeChange(t.Context(), s, change{testResource, fmt.Sprintf("event:eventhub:k%d", keys), "eastus", at}); err != nil {
				t.Fatal(err)
			}
		})
		h, _, err := s.readHead(t.Context(), testPartition)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d keys marked before: %d requests, %d bytes sent, %d received; the head keeps %d keys",
			keys, c.Requests, c.BytesIn, c.BytesOut, len(h.Seen))
		if len(h.Seen) > maxSeen || c.Requests != 2 {
			t.Errorf("%d keys marked before: the head keeps %d keys (at most %d), the change took %d requests (want 2)", keys, len(h.Seen), maxSeen, c.Requests)
		}
	}
}

// TestSingleDocumentAlternative measures, for doc.go, the design issue 15
// set against the transactional batch: one conditional replace of the
// partition's document, holding the change's audit record (and outbox item)
// until they are copied out to documents of their own. It writes what
// writeChange's batch writes, with azcosmos directly: a read, the replace,
// and the copies.
func TestSingleDocumentAlternative(t *testing.T) {
	srv := cosmostest.StartForTest(t)
	o := testOptions(t, newDatabaseName())
	o.Endpoint = srv.Endpoint
	s := openWith(t, o)
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	// The state as the batch design leaves it, to copy the documents from.
	if _, err := writeChange(t.Context(), s, change{testResource, "event:eventhub:e1", "eastus", t0}); err != nil {
		t.Fatal(err)
	}
	c := s.container(cPartitions)
	pk := partitionKey(testPartition)
	recs, err := s.ListAudit(t.Context(), testPartition, 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ListAudit: %v, %v", recs, err)
	}
	items, err := s.ListOutbox(t.Context())
	if err != nil || len(items) != 1 {
		t.Fatalf("ListOutbox: %v, %v", items, err)
	}
	got := counted(t, srv.Endpoint, func() {
		resp, err := c.ReadItem(t.Context(), pk, headID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var head map[string]any
		if err := json.Unmarshal(resp.Value, &head); err != nil {
			t.Fatal(err)
		}
		head["pendingAudit"], head["pendingOutbox"] = recs, items
		b, _ := json.Marshal(head)
		etag := resp.ETag
		if _, err := c.ReplaceItem(t.Context(), pk, headID, b, &azcosmos.ItemOptions{IfMatchEtag: &etag}); err != nil {
			t.Fatal(err)
		}
		for i, doc := range []any{auditDoc{ID: "copy-audit", PK: pkOfPartition(testPartition), Record: recs[0]},
			outboxDoc{ID: "copy-outbox", PK: pkOfPartition(testPartition), Item: items[0]}} {
			b, _ := json.Marshal(doc)
			if _, err := c.CreateItem(t.Context(), pk, b, nil); err != nil {
				t.Fatalf("copy %d: %v", i, err)
			}
		}
	})
	t.Logf("single-document replace with copies: %d requests, %d bytes sent, %d received", got.Requests, got.BytesIn, got.BytesOut)
	if got.Requests != 4 || got.Batches != 0 {
		t.Errorf("counted %+v, want 4 requests: a read, a replace, two copies", got)
	}
}
