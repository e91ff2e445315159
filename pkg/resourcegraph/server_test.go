package resourcegraph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// The local Resource Graph. No emulator exists (DESIGN 5): this server answers
// POST /providers/Microsoft.ResourceGraph/resources as the REST reference
// documents it, in the shape of the REST API specs' Resources examples
// (azure-rest-api-specs, specification/resourcegraph/resource-manager/
// Microsoft.ResourceGraph/ResourceGraph/ResourceGraph/examples/2024-04-01/
// ResourcesFirstPageQuery.json and ResourcesNextPageQuery.json): a body of
// totalRecords, count, data (objectArray), facets, resultTruncated as the
// string "false", and $skipToken while rows remain; rows sorted by id, which
// the examples say paging needs. It checks each request's method, path,
// api-version, token and body, and fails the test on anything else.

const apiVersion = "2024-04-01" // armresourcegraph v0.10.0's Resources api-version, the newest stable one

// testToken stands in for azidentity at the boundary, and remembers the scopes asked.
type testToken struct {
	mu     sync.Mutex
	scopes []string
}

func (tk *testToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.scopes = append(tk.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// request is one request as the server decoded it.
type request struct {
	Subscriptions []string `json:"subscriptions"`
	Query         string   `json:"query"`
	Options       struct {
		Top          int    `json:"$top"`
		SkipToken    string `json:"$skipToken"`
		ResultFormat string `json:"resultFormat"`
	} `json:"options"`
}

// graph is the estate the local server holds, and what it was asked.
type graph struct {
	t        *testing.T
	mu       sync.Mutex
	rows     map[string][]map[string]any // table → rows (every subscription)
	visible  map[string]bool             // subscriptions whose own row it lists
	queries  map[string]string           // table → the query text it expects
	requests []request
	// answer, when set, answers request n (1-based) instead of the estate;
	// false lets the estate answer.
	answer func(n int, w http.ResponseWriter, r request) bool
	quota  func(n int, h http.Header) // sets the quota headers of answer n
}

func newGraph(t *testing.T) *graph {
	return &graph{t: t, rows: map[string][]map[string]any{}, visible: map[string]bool{}, queries: map[string]string{}}
}

func (g *graph) requestCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.requests)
}

func (g *graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := g.t
	if r.Method != http.MethodPost || r.URL.Path != "/providers/Microsoft.ResourceGraph/resources" || r.URL.Query().Get("api-version") != apiVersion {
		t.Errorf("got %s %s?%s, want POST /providers/Microsoft.ResourceGraph/resources?api-version=%s", r.Method, r.URL.Path, r.URL.RawQuery, apiVersion)
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
		t.Errorf("Authorization = %q, want the credential's bearer token", got)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		t.Errorf("request body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.requests = append(g.requests, req)
	n := len(g.requests)
	g.mu.Unlock()
	if len(req.Subscriptions) == 0 || len(req.Subscriptions) > MaxSubscriptionsPerQuery {
		t.Errorf("request %d names %d subscriptions, want 1 to %d", n, len(req.Subscriptions), MaxSubscriptionsPerQuery)
	}
	if req.Options.ResultFormat != "objectArray" || req.Options.Top < 1 || req.Options.Top > MaxPageSize {
		t.Errorf("request %d options: resultFormat %q, $top %d; want objectArray and 1 to %d", n, req.Options.ResultFormat, req.Options.Top, MaxPageSize)
	}
	if g.quota != nil {
		g.quota(n, w.Header())
	}
	if g.answer != nil && g.answer(n, w, req) {
		return
	}
	table := strings.Fields(req.Query)[0]
	if want, ok := g.queries[table]; !ok || req.Query != want {
		t.Errorf("request %d query:\n got %s\nwant %s", n, req.Query, want)
	}
	asked := map[string]bool{}
	for _, s := range req.Subscriptions {
		asked[s] = true
	}
	var match []map[string]any
	if table != "resourcecontainers" {
		for _, row := range g.rows[table] {
			if s := row["subscriptionId"].(string); asked[s] && g.visible[s] { // no read access, no rows
				match = append(match, row)
			}
		}
	}
	if table == "resources" || table == "resourcecontainers" {
		for _, s := range req.Subscriptions {
			if g.visible[s] {
				match = append(match, subscriptionRow(s))
			}
		}
	}
	slices.SortFunc(match, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	offset := 0
	if req.Options.SkipToken != "" {
		raw, err := base64.StdEncoding.DecodeString(req.Options.SkipToken)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		}
		if err != nil || offset <= 0 || offset >= len(match) {
			t.Errorf("request %d: $skipToken %q is none the server gave", n, req.Options.SkipToken)
			http.Error(w, "bad skip token", http.StatusBadRequest)
			return
		}
	}
	end := min(offset+req.Options.Top, len(match))
	body := map[string]any{
		"totalRecords":    len(match),
		"count":           end - offset,
		"data":            match[offset:end],
		"facets":          []any{},
		"resultTruncated": "false",
	}
	if end < len(match) {
		body["$skipToken"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("offset:%d", end)))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := json.NewEncoder(w).Encode(body); err != nil {
		t.Errorf("answer: %v", err)
	}
}

// subscriptionRow is a subscription's own row in ResourceContainers, as the
// query projects it.
func subscriptionRow(sub string) map[string]any {
	return map[string]any{"id": "/subscriptions/" + sub, "name": sub, "type": subscriptionType,
		"location": "", "kind": "", "sku": nil, "identity": nil, "tags": map[string]any{},
		"properties": map[string]any{"state": "Enabled"}, "managedBy": "", "plan": nil, "zones": nil,
		"extendedLocation": nil, "subscriptionId": sub}
}

// resourceRow is a resource's row as Resource Graph gives it: type in lower
// case, empty strings and nulls for what the resource does not have, and
// Resource Graph's own columns.
func resourceRow(sub, typ, name string) map[string]any {
	ns, rest, _ := strings.Cut(typ, "/")
	return map[string]any{
		"id":               "/subscriptions/" + sub + "/resourceGroups/rg-scan/providers/" + ns + "/" + rest + "/" + name,
		"name":             name,
		"type":             strings.ToLower(typ),
		"location":         "eastus",
		"kind":             "",
		"sku":              nil,
		"identity":         nil,
		"tags":             map[string]any{},
		"properties":       map[string]any{"provisioningState": "Succeeded"},
		"managedBy":        "",
		"plan":             nil,
		"zones":            nil,
		"extendedLocation": nil,
		"subscriptionId":   sub,
	}
}

// start serves g on loopback TLS and returns a client that trusts the
// server's certificate through azcore's transport option.
func (g *graph) start(t *testing.T, o Options) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(g)
	t.Cleanup(srv.Close)
	conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
	}}
	o.ARM = &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf, Transport: srv.Client(),
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}}}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := New(&testToken{}, o)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return scanTime }
	return c
}

var scanTime = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// sub returns the nth test subscription ID.
func sub(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }
