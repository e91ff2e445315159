package resourcegraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

const (
	typeStorage = "Microsoft.Storage/storageAccounts"
	typeDisk    = "Microsoft.Compute/disks"
)

// The exact queries a scan of storage accounts and disks sends: the types in
// lower case, the subscriptions' own rows, the ARM body's columns.
const (
	queryStorageDisks = "resources | where type in~ ('microsoft.compute/disks', 'microsoft.storage/storageaccounts')" +
		" | union (resourcecontainers | where type =~ 'microsoft.resources/subscriptions')" +
		" | project id, name, type, location, kind, sku, identity, tags, properties, managedBy, plan, zones, extendedLocation, subscriptionId"
	queryRoleAssignments = "authorizationresources | where type in~ ('microsoft.authorization/roleassignments')" +
		" | project id, name, type, location, kind, sku, identity, tags, properties, managedBy, plan, zones, extendedLocation, subscriptionId"
	querySubscriptionsOnly = "resourcecontainers | where type =~ 'microsoft.resources/subscriptions'" +
		" | project id, name, type, location, kind, sku, identity, tags, properties, managedBy, plan, zones, extendedLocation, subscriptionId"
)

// collect scans and returns the resources handed on, by ID.
func collect(t *testing.T, c *Client, ctx context.Context, subs, types []string) (map[string]*guard.Resource, Stats, error) {
	t.Helper()
	got := map[string]*guard.Resource{}
	st, err := c.Scan(ctx, subs, types, func(r *guard.Resource) error {
		if _, dup := got[r.ID]; dup {
			t.Errorf("%s handed on twice", r.ID)
		}
		got[r.ID] = r
		return nil
	})
	return got, st, err
}

func TestScan(t *testing.T) {
	tests := []struct {
		name         string
		subs         int               // subscriptions asked
		invisible    []int             // of which Resource Graph shows no row
		perSub       map[string]int    // rows per type in each subscription
		types        []string          // asked
		opts         Options           // client options
		queries      map[string]string // table → the query expected
		wantRequests int
		wantBatches  []int // subscriptions named by each first-page request
		wantNotIn    []string
	}{
		{
			name: "three pages by $skipToken", subs: 1, perSub: map[string]int{typeStorage: 1200, typeDisk: 1300},
			types:   []string{typeStorage, "microsoft.compute/DISKS", typeStorage},
			queries: map[string]string{"resources": queryStorageDisks}, wantRequests: 3, wantBatches: []int{1},
		},
		{
			name: "many subscriptions split into requests", subs: 600, perSub: map[string]int{typeStorage: 2, typeDisk: 2},
			types: []string{typeStorage, typeDisk}, opts: Options{SubscriptionsPerQuery: 250},
			queries: map[string]string{"resources": queryStorageDisks}, wantRequests: 2 + 2 + 1, wantBatches: []int{250, 250, 100},
		},
		{
			name: "a subscription Resource Graph does not show", subs: 3, invisible: []int{2}, perSub: map[string]int{typeStorage: 2},
			types:   []string{typeStorage, typeDisk},
			queries: map[string]string{"resources": queryStorageDisks}, wantRequests: 1, wantBatches: []int{3},
		},
		{
			name: "types in another table or in none", subs: 2, perSub: map[string]int{typeStorage: 3, "Microsoft.Authorization/roleAssignments": 2},
			types: []string{typeStorage, typeDisk, "Microsoft.Authorization/roleAssignments", "Microsoft.Sql/servers/encryptionProtector",
				"Microsoft.Storage/storageAccounts/blobServices", "Microsoft.KeyVault/vaults/keys"},
			queries:      map[string]string{"resources": queryStorageDisks, "authorizationresources": queryRoleAssignments},
			wantRequests: 2, wantBatches: []int{2, 2},
			wantNotIn: []string{"microsoft.keyvault/vaults/keys", "microsoft.sql/servers/encryptionprotector", "microsoft.storage/storageaccounts/blobservices"},
		},
		{
			name: "only types in no table: the subscriptions are still checked", subs: 2,
			types:   []string{"Microsoft.Sql/servers/encryptionProtector"},
			queries: map[string]string{"resourcecontainers": querySubscriptionsOnly}, wantRequests: 1, wantBatches: []int{2},
			wantNotIn: []string{"microsoft.sql/servers/encryptionprotector"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			g.queries = tt.queries
			var subs []string
			want := map[string]bool{}
			for i := 1; i <= tt.subs; i++ {
				s := sub(i)
				subs = append(subs, strings.ToUpper(s)) // IDs are compared in lower case
				g.visible[s] = !slices.Contains(tt.invisible, i)
				for typ, n := range tt.perSub {
					table := "resources"
					if strings.HasPrefix(typ, "Microsoft.Authorization/") {
						table = "authorizationresources"
					}
					for k := range n {
						r := resourceRow(s, typ, fmt.Sprintf("r%05d", k))
						g.rows[table] = append(g.rows[table], r)
						if g.visible[s] {
							want[r["id"].(string)] = true
						}
					}
				}
			}
			// A row of a subscription nobody asked for is never handed on.
			g.rows["resources"] = append(g.rows["resources"], resourceRow(sub(999), typeStorage, "elsewhere"))
			c := g.start(t, tt.opts)
			got, st, err := collect(t, c, context.Background(), subs, tt.types)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			for id := range want {
				if got[id] == nil {
					t.Errorf("%s not handed on", id)
				}
			}
			if len(got) != len(want) || st.Resources != len(want) {
				t.Errorf("handed on %d (Stats.Resources %d), want %d", len(got), st.Resources, len(want))
			}
			if st.Requests != tt.wantRequests || g.requestCount() != tt.wantRequests {
				t.Errorf("Stats.Requests %d, server saw %d, want %d", st.Requests, g.requestCount(), tt.wantRequests)
			}
			var batches []int
			for _, r := range g.requests {
				if r.Options.SkipToken == "" {
					batches = append(batches, len(r.Subscriptions))
				}
			}
			if !slices.Equal(batches, tt.wantBatches) {
				t.Errorf("first pages named %v subscriptions, want %v", batches, tt.wantBatches)
			}
			var wantUnseen []string
			for _, i := range tt.invisible {
				wantUnseen = append(wantUnseen, sub(i))
			}
			if !slices.Equal(st.Unseen, wantUnseen) {
				t.Errorf("Stats.Unseen = %v, want %v", st.Unseen, wantUnseen)
			}
			if !slices.Equal(st.NotInGraph, tt.wantNotIn) {
				t.Errorf("Stats.NotInGraph = %v, want %v", st.NotInGraph, tt.wantNotIn)
			}
			for id, r := range got {
				if !r.FromEvent || !r.ObservedAt.Equal(scanTime) || strings.ToLower(r.Type) == r.Type {
					t.Errorf("%s: FromEvent %v, ObservedAt %s, Type %q; want a state not read from ARM, observed at the scan, typed as its ID", id, r.FromEvent, r.ObservedAt, r.Type)
					break
				}
			}
		})
	}
}

// TestScanTenThousand: the estate of issue 16's figure, 10,000 resources in 3
// subscriptions, costs at most 11 Resource Graph requests.
func TestScanTenThousand(t *testing.T) {
	g := newGraph(t)
	g.queries = map[string]string{"resources": queryStorageDisks}
	var subs []string
	for i, n := range []int{5000, 3000, 2000} {
		s := sub(i + 1)
		subs = append(subs, s)
		g.visible[s] = true
		for k := range n {
			typ := typeStorage
			if k%2 == 1 {
				typ = typeDisk
			}
			g.rows["resources"] = append(g.rows["resources"], resourceRow(s, typ, fmt.Sprintf("r%05d", k)))
		}
	}
	c := g.start(t, Options{})
	got, st, err := collect(t, c, context.Background(), subs, []string{typeStorage, typeDisk})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10000 || st.Subscriptions[sub(1)] != 5000 || st.Subscriptions[sub(3)] != 2000 {
		t.Errorf("handed on %d resources (%v per subscription), want 10000", len(got), st.Subscriptions)
	}
	if n := g.requestCount(); n > 11 || st.Requests != n {
		t.Errorf("%d Resource Graph requests (Stats says %d), want at most 11", n, st.Requests)
	}
	t.Logf("10,000 resources in 3 subscriptions: %d Resource Graph requests", st.Requests)
}

// TestScanThrottled: a 429 is sent again after what it asks (Retry-After, or
// Resource Graph's quota reset), within a bounded number of retries and a
// bounded wait; an answer that leaves no quota holds the next request back.
func TestScanThrottled(t *testing.T) {
	throttle := func(from, to int, h http.Header) func(int, http.ResponseWriter, request) bool {
		return func(n int, w http.ResponseWriter, _ request) bool {
			if n < from || n > to {
				return false
			}
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"RateLimiting","message":"Please provide below info when asking for support: timestamp = 2026-11-28T09:00:00Z, correlationId = 1. Details: Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed."}}`)
			return true
		}
	}
	tests := []struct {
		name         string
		answer       func(int, http.ResponseWriter, request) bool
		quota        func(int, http.Header)
		maxRetries   int
		wantErr      string // "" for success
		wantWaits    []time.Duration
		wantRequests int
		wantThrottle int
	}{
		{name: "Retry-After then success", answer: throttle(1, 1, http.Header{"Retry-After": {"3"}}),
			wantWaits: []time.Duration{3 * time.Second}, wantRequests: 3, wantThrottle: 1},
		{name: "quota reset instead of Retry-After", answer: throttle(2, 3, http.Header{"X-Ms-User-Quota-Remaining": {"0"}, "X-Ms-User-Quota-Resets-After": {"00:00:04"}}),
			wantWaits: []time.Duration{4 * time.Second, 4 * time.Second}, wantRequests: 4, wantThrottle: 2},
		{name: "no quota left after each answer: wait before the next, not after the last", quota: func(n int, h http.Header) {
			h.Set("x-ms-user-quota-remaining", "0")
			h.Set("x-ms-user-quota-resets-after", "00:00:02")
		}, wantWaits: []time.Duration{2 * time.Second}, wantRequests: 2},
		{name: "quota left", quota: func(n int, h http.Header) {
			h.Set("x-ms-user-quota-remaining", "14")
			h.Set("x-ms-user-quota-resets-after", "00:00:02")
		}, wantRequests: 2},
		{name: "429 past the retries", answer: throttle(1, 100, http.Header{"Retry-After": {"1"}}), maxRetries: 2,
			wantErr: "throttled (429) 3 times", wantWaits: []time.Duration{time.Second, time.Second}, wantRequests: 3, wantThrottle: 3},
		{name: "asked to wait past the bound", answer: throttle(1, 100, http.Header{"Retry-After": {"600"}}),
			wantErr: "asked to wait 10m0s, longer than 1m0s", wantRequests: 1, wantThrottle: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			g.queries = map[string]string{"resources": queryStorageDisks}
			g.visible[sub(1)] = true
			for k := range 1500 {
				g.rows["resources"] = append(g.rows["resources"], resourceRow(sub(1), typeStorage, fmt.Sprintf("r%05d", k)))
			}
			g.answer, g.quota = tt.answer, tt.quota
			c := g.start(t, Options{MaxRetries: tt.maxRetries})
			var waits []time.Duration
			c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }
			got, st, err := collect(t, c, context.Background(), []string{sub(1)}, []string{typeStorage, typeDisk})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Scan: %v", err)
			case tt.wantErr == "" && len(got) != 1500:
				t.Errorf("handed on %d, want 1500", len(got))
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Scan error %v, want one saying %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "test-token") {
				t.Errorf("error carries the token: %v", err)
			}
			if !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("waited %v, want %v", waits, tt.wantWaits)
			}
			if st.Requests != tt.wantRequests || g.requestCount() != tt.wantRequests || st.Throttled != tt.wantThrottle {
				t.Errorf("requests %d (server %d), throttled %d; want %d, %d", st.Requests, g.requestCount(), st.Throttled, tt.wantRequests, tt.wantThrottle)
			}
		})
	}
}

// TestScanMalformed: an answer not in the documented shape stops the scan with
// an error naming the query and page; nothing panics.
func TestScanMalformed(t *testing.T) {
	raw := func(body string) func(int, http.ResponseWriter, request) bool {
		return func(n int, w http.ResponseWriter, _ request) bool {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
			return true
		}
	}
	good := resourceRow(sub(1), typeStorage, "ok")
	goodJSON, _ := json.Marshal(good)
	tests := []struct {
		name, body, wantErr string
	}{
		{"not JSON", `<html>gateway</html>`, "page 1"},
		{"data is a table, not objects", `{"totalRecords":1,"count":1,"data":{"columns":[],"rows":[]},"resultTruncated":"false"}`, "no data array"},
		{"no totalRecords", `{"count":1,"data":[` + string(goodJSON) + `],"resultTruncated":"false"}`, "no data array, count or totalRecords"},
		{"row is not an object", `{"totalRecords":1,"count":1,"data":["x"],"resultTruncated":"false"}`, "row 0 is not an object"},
		{"row with a dot segment", `{"totalRecords":1,"count":1,"data":[{"id":"/subscriptions/` + sub(1) + `/resourceGroups/../providers/Microsoft.Storage/storageAccounts/x","type":"microsoft.storage/storageaccounts","subscriptionId":"` + sub(1) + `"}],"resultTruncated":"false"}`, "dot segment"},
		{"row without a type", `{"totalRecords":1,"count":1,"data":[{"id":"/subscriptions/` + sub(1) + `/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"}],"resultTruncated":"false"}`, "no type"},
		{"truncated without a token", `{"totalRecords":5,"count":1,"data":[` + string(goodJSON) + `],"resultTruncated":"true"}`, "result truncated at 1 of 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			g.answer = raw(tt.body)
			c := g.start(t, Options{})
			_, _, err := collect(t, c, context.Background(), []string{sub(1)}, []string{typeStorage})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "query resources over 1 subscriptions") {
				t.Errorf("Scan error %v, want one naming the query and saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestScanRefusesLargeResult: a result bigger than MaxRows is refused on its
// first page, before anything is handed on.
func TestScanRefusesLargeResult(t *testing.T) {
	g := newGraph(t)
	g.queries = map[string]string{"resources": queryStorageDisks}
	g.visible[sub(1)] = true
	for k := range 150 {
		g.rows["resources"] = append(g.rows["resources"], resourceRow(sub(1), typeStorage, fmt.Sprintf("r%05d", k)))
	}
	c := g.start(t, Options{MaxRows: 100, PageSize: 50})
	got, _, err := collect(t, c, context.Background(), []string{sub(1)}, []string{typeStorage, typeDisk})
	if err == nil || !strings.Contains(err.Error(), "more than the 100 a scan accepts") || len(got) != 0 {
		t.Errorf("Scan handed on %d and returned %v, want a refusal before any resource", len(got), err)
	}
}

// TestScanCancelled: a cancelled context stops the scan, while it waits out a
// 429 and between pages.
func TestScanCancelled(t *testing.T) {
	tests := []struct {
		name string
		run  func(g *graph, c *Client) error
	}{
		{"while waiting out a 429", func(g *graph, c *Client) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g.answer = func(n int, w http.ResponseWriter, _ request) bool {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			c.sleep = func(ctx context.Context, d time.Duration) error { cancel(); return sleepCtx(ctx, d) }
			_, err := c.Scan(ctx, []string{sub(1)}, []string{typeStorage, typeDisk}, func(*guard.Resource) error { return nil })
			return err
		}},
		{"between pages", func(g *graph, c *Client) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := c.Scan(ctx, []string{sub(1)}, []string{typeStorage, typeDisk}, func(*guard.Resource) error { cancel(); return nil })
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			g.queries = map[string]string{"resources": queryStorageDisks}
			g.visible[sub(1)] = true
			for k := range 1500 {
				g.rows["resources"] = append(g.rows["resources"], resourceRow(sub(1), typeStorage, fmt.Sprintf("r%05d", k)))
			}
			c := g.start(t, Options{})
			if err := tt.run(g, c); !errors.Is(err, context.Canceled) {
				t.Errorf("Scan error %v, want context.Canceled", err)
			}
			if n := g.requestCount(); n != 1 {
				t.Errorf("server saw %d requests, want 1: nothing is sent after the cancel", n)
			}
		})
	}
}

// TestScanRefusesInput: subscriptions that are not GUIDs and types that are
// not types never reach a query.
func TestScanRefusesInput(t *testing.T) {
	tests := []struct {
		name        string
		subs, types []string
		wantErr     string
	}{
		{"no subscription", nil, []string{typeStorage}, "no subscription"},
		{"a subscription name", []string{"Contoso Production"}, []string{typeStorage}, "not a subscription ID"},
		{"a subscription with a quote", []string{sub(1) + "'"}, []string{typeStorage}, "not a subscription ID"},
		{"a type that would end the string", []string{sub(1)}, []string{"microsoft.storage/storageaccounts') | project secret"}, "not a resource type"},
		{"a namespace without a type", []string{sub(1)}, []string{"Microsoft.Storage"}, "not a resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			c := g.start(t, Options{})
			_, _, err := collect(t, c, context.Background(), tt.subs, tt.types)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Scan error %v, want %q", err, tt.wantErr)
			}
			if n := g.requestCount(); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// TestScanEachError: an error from each stops the scan and is returned, wrapped
// with the resource it was about.
func TestScanEachError(t *testing.T) {
	g := newGraph(t)
	g.queries = map[string]string{"resources": queryStorageDisks}
	g.visible[sub(1)] = true
	for k := range 3 {
		g.rows["resources"] = append(g.rows["resources"], resourceRow(sub(1), typeStorage, fmt.Sprintf("r%05d", k)))
	}
	c := g.start(t, Options{})
	stop := errors.New("store unavailable")
	calls := 0
	_, err := c.Scan(context.Background(), []string{sub(1)}, []string{typeStorage, typeDisk}, func(*guard.Resource) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 || !strings.Contains(err.Error(), "r00000") {
		t.Errorf("Scan returned %v after %d calls, want the callback's error, naming r00000, after 1", err, calls)
	}
}
