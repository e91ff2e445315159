// Package rgtest is a local Azure management endpoint for tests and benchmarks
// of what reads a whole estate: Resource Graph's POST
// /providers/Microsoft.ResourceGraph/resources and ARM's resource reads, over
// one estate, on loopback HTTPS. Neither has an emulator (DESIGN 5), and a scan
// is only worth what it does against both: Resource Graph lists (and may lag,
// or not show a subscription), ARM confirms. Resource Graph and ARM share the
// management endpoint in Azure, and here too, so the guard's clients are built
// exactly as in Azure, only pointed at this server.
//
// Resource Graph answers as the REST reference and the REST API specs'
// examples document it (pkg/resourcegraph's own test server checks the query
// text; this one reads the table and the types from it): totalRecords, count,
// data (objectArray), resultTruncated, $skipToken while rows remain, rows
// sorted by id, the subscriptions' own rows from ResourceContainers.
package rgtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
)

// GraphPath is the path of Resource Graph's query API.
const GraphPath = "/providers/Microsoft.ResourceGraph/resources"

// Server is the local management endpoint. Its estate starts empty.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	graph    map[string]map[string]any // ID key → ARM body: what Resource Graph lists
	arm      map[string]map[string]any // ID key → ARM body: what ARM answers (absent: 404)
	hidden   map[string]bool           // subscriptions Resource Graph does not show
	names    map[string]string         // subscription → its display name (SetSubscriptionName)
	settings map[string]any            // subscription → its diagnostic settings list
	failFrom int                       // Resource Graph request from which to fail (0: never)
	failWith int
	requests int            // Resource Graph requests
	byTable  map[string]int // Resource Graph requests per table queried
	reads    map[string]int // ARM reads per ID key
	errs     []string
}

// New starts a server on loopback over TLS.
func New() *Server {
	s := &Server{graph: map[string]map[string]any{}, arm: map[string]map[string]any{}, hidden: map[string]bool{}, names: map[string]string{},
		settings: map[string]any{}, reads: map[string]int{}, byTable: map[string]int{}}
	s.Server = httptest.NewTLSServer(s)
	return s
}

// Put makes a resource (an ARM GET body with its id) exist: Resource Graph
// lists it and ARM answers it.
func (s *Server) Put(body map[string]any) {
	s.PutGraph(body)
	s.PutARM(body)
}

// PutGraph makes Resource Graph list the body (lagging behind ARM, say).
func (s *Server) PutGraph(body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.graph[guard.IDKey(body["id"].(string))] = body
}

// PutARM makes ARM answer the body.
func (s *Server) PutARM(body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arm[guard.IDKey(body["id"].(string))] = body
}

// DeleteGraph makes Resource Graph stop listing a resource.
func (s *Server) DeleteGraph(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.graph, guard.IDKey(id))
}

// DeleteARM makes ARM answer 404 for a resource.
func (s *Server) DeleteARM(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.arm, guard.IDKey(id))
}

// Hide makes Resource Graph leave a subscription out (no read access):
// neither its own row nor its resources are listed.
func (s *Server) Hide(sub string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hidden[strings.ToLower(sub)] = true
}

// SetSubscriptionName gives a subscription a display name: the name column of
// its own row. Without one, the row's name is the subscription's ID, which
// says no name.
func (s *Server) SetSubscriptionName(sub, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[strings.ToLower(sub)] = name
}

// SetSettings sets the subscription's diagnostic settings as ARM lists them
// ({"value": [...]}); by default a setting exports Administrative to an Event
// Hub (GoodSettings).
func (s *Server) SetSettings(sub string, list any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings[strings.ToLower(sub)] = list
}

// FailGraph makes Resource Graph answer request n and every one after it
// with status.
func (s *Server) FailGraph(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFrom, s.failWith = n, status
}

// GraphRequests is how many Resource Graph requests were answered.
func (s *Server) GraphRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// GraphRequestsOf is how many Resource Graph requests queried a table
// (resources, authorizationresources...).
func (s *Server) GraphRequestsOf(table string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byTable[table]
}

// ARMReads is how many ARM reads were answered (resources and settings).
func (s *Server) ARMReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.reads {
		n += c
	}
	return n
}

// ReadsOf is how many ARM reads of one ID were answered.
func (s *Server) ReadsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[guard.IDKey(id)]
}

// Errors are the requests the server found wrong (a test fails on any).
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Server) fault(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// ClientOptions point the guard's ARM and Resource Graph clients at the
// server, trusting its certificate through azcore's transport option.
func (s *Server) ClientOptions() *arm.ClientOptions {
	conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: s.URL, Audience: "https://management.core.windows.net/"}}}
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf, Transport: s.Server.Client(),
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}}}
}

// Credential stands in for azidentity: no sign-in runs here.
func Credential() azcore.TokenCredential { return staticToken{} }

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer test-token" {
		s.fault("%s %s: no bearer token", r.Method, r.URL.Path)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == GraphPath:
		s.serveGraph(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(strings.ToLower(r.URL.Path), "/subscriptions/"):
		s.serveARM(w, r)
	default:
		s.fault("unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
	}
}

func (s *Server) serveARM(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("api-version") == "" {
		s.fault("GET %s without api-version", r.URL.Path)
	}
	id := r.URL.Path
	key := guard.IDKey(id)
	s.mu.Lock()
	s.reads[key]++
	var body any
	if guard.IsDiagnosticSettingsID(id) {
		sub := strings.ToLower(guard.SubscriptionOf(id))
		var ok bool
		if body, ok = s.settings[sub]; !ok {
			body = GoodSettings(sub)
		}
	} else if b, ok := s.arm[key]; ok {
		body = b
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if body == nil {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":"ResourceNotFound","message":"The Resource '%s' was not found."}}`, id)
		return
	}
	json.NewEncoder(w).Encode(body)
}

// query is a Resource Graph request body.
type query struct {
	Subscriptions []string `json:"subscriptions"`
	Query         string   `json:"query"`
	Options       struct {
		Top          int    `json:"$top"`
		SkipToken    string `json:"$skipToken"`
		ResultFormat string `json:"resultFormat"`
	} `json:"options"`
}

var typesIn = regexp.MustCompile(`^\s*(\w+)(?: \| where type in~ \(([^)]*)\))?`)

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	var q query
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || len(q.Subscriptions) == 0 || q.Options.Top < 1 || q.Options.Top > 1000 ||
		q.Options.ResultFormat != "objectArray" || !strings.Contains(q.Query, "| project id,") {
		s.fault("Resource Graph request malformed: %v %+v", err, q)
		http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	if s.failFrom > 0 && s.requests >= s.failFrom {
		status := s.failWith
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":"Failed","message":"answered %d by the test"}}`, status)
		return
	}
	m := typesIn.FindStringSubmatch(q.Query)
	if m == nil {
		s.mu.Unlock()
		s.fault("Resource Graph query names no table: %q", q.Query)
		http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
		return
	}
	table, types := m[1], map[string]bool{}
	s.byTable[table]++
	for _, t := range strings.Split(m[2], ",") {
		if t = strings.Trim(strings.TrimSpace(t), "'"); t != "" {
			types[t] = true
		}
	}
	asked := map[string]bool{}
	for _, sub := range q.Subscriptions {
		asked[strings.ToLower(sub)] = !s.hidden[strings.ToLower(sub)]
	}
	match := []map[string]any{}
	if table != "resourcecontainers" {
		for _, body := range s.graph {
			typ := strings.ToLower(body["type"].(string))
			sub := strings.ToLower(guard.SubscriptionOf(body["id"].(string)))
			if tableOf(typ) == table && asked[sub] && (len(types) == 0 || types[typ]) {
				row := maps.Clone(body)
				row["type"], row["subscriptionId"] = typ, sub
				match = append(match, row)
			}
		}
	}
	if table == "resources" || table == "resourcecontainers" {
		for _, sub := range q.Subscriptions {
			if asked[strings.ToLower(sub)] {
				name, ok := s.names[strings.ToLower(sub)]
				if !ok {
					name = sub
				}
				match = append(match, map[string]any{"id": "/subscriptions/" + sub, "name": name,
					"type": "microsoft.resources/subscriptions", "subscriptionId": sub, "properties": map[string]any{"state": "Enabled"}})
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(match, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	offset := 0
	if q.Options.SkipToken != "" {
		raw, err := base64.StdEncoding.DecodeString(q.Options.SkipToken)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		}
		if err != nil || offset <= 0 || offset >= len(match) {
			s.fault("$skipToken %q is none the server gave", q.Options.SkipToken)
			http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
			return
		}
	}
	end := min(offset+q.Options.Top, len(match))
	body := map[string]any{"totalRecords": len(match), "count": end - offset, "data": match[offset:end],
		"facets": []any{}, "resultTruncated": "false"}
	if end < len(match) {
		body["$skipToken"] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "offset:%d", end))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(body)
}

// tableOf is the Resource Graph table that holds a type (lower case), as far
// as the guard's rules go.
func tableOf(typ string) string {
	if strings.HasPrefix(typ, "microsoft.authorization/role") {
		return "authorizationresources"
	}
	return "resources"
}

// GoodSettings is a subscription's diagnostic settings as ARM lists them, with
// one setting that exports the Activity Log's Administrative category to an
// Event Hub: what monitoring.activity-log wants when the guard's hub is not
// known.
func GoodSettings(sub string) map[string]any {
	return map[string]any{"value": []any{map[string]any{
		"id":   "/subscriptions/" + sub + "/providers/microsoft.insights/diagnosticSettings/exportguard",
		"name": "exportguard", "type": "Microsoft.Insights/diagnosticSettings",
		"properties": map[string]any{
			"eventHubAuthorizationRuleId": "/subscriptions/" + sub + "/resourceGroups/rg-guard/providers/Microsoft.EventHub/namespaces/eh-guard/authorizationrules/RootManageSharedAccessKey",
			"eventHubName":                "insights-activity-logs",
			"logs":                        []any{map[string]any{"category": "Administrative", "enabled": true}},
		},
	}}}
}
