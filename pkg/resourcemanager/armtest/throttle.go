// Package armtest is a local ARM for tests and benchmarks: an HTTPS server on
// loopback that answers resource reads and throttles them as ARM documents it
// (a token bucket of reads per subscription, 429 with Retry-After once it is
// empty; see pkg/resourcemanager's budget.go for the page). No ARM emulator
// exists, and the guard's read budget is only worth what a server that really
// throttles shows of it.
package armtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// Options shape a throttling server. Zero fields take ARM's documented
// figures (a bucket of 250 reads refilled at 25 a second, full at the start).
type Options struct {
	Bucket          int
	RefillPerSecond float64
	// StartTokens is what the bucket holds at the start (another instance of
	// the same principal has used the rest); negative means full.
	StartTokens int
	// RetryAfter is what a 429 asks for (whole seconds in the header); 1s
	// when zero.
	RetryAfter time.Duration
}

// InFlight is how long after a 429 a read may still arrive that was sent
// before the client could know of it: at most the budget's few reads in
// flight, which on a loaded machine (a CI run's parallel packages on two
// cores) can take a few hundred milliseconds to reach the server. It stays
// well inside the 1 s Retry-After the tests give, so a client that ignored
// the Retry-After is still caught.
const InFlight = 400 * time.Millisecond

// Counts is what the server saw.
type Counts struct {
	Reads     int // GETs answered 200 or 404
	Throttled int // GETs answered 429: the bucket was empty
	// Early counts reads that arrived while a Retry-After the server had
	// given was still running, later than InFlight after it was given (reads
	// already on their way then could not know): a client that honours it
	// sends none.
	Early int
}

// Server is a throttling ARM.
type Server struct {
	*httptest.Server
	opts Options

	mu     sync.Mutex
	tokens float64
	last   time.Time
	given  time.Time // when the last Retry-After was given
	until  time.Time // and when it ends
	counts Counts
	seen   map[string]int // reads per resource ID (lower case)
}

// NewServer starts a throttling ARM on loopback over TLS (httptest). A GET
// that the bucket admits answers a storage account of that ID in East US
// replicating to West Europe (StorageAccount): a residency.replication
// finding under the default policy, so that every change read is seen judged.
func NewServer(o Options) *Server {
	if o.Bucket <= 0 {
		o.Bucket = 250
	}
	if o.RefillPerSecond <= 0 {
		o.RefillPerSecond = 25
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	// The bucket starts refilling at the first request, not when the server
	// starts: what a test does before its first read (open a store, build a
	// pipeline) takes however long the machine takes, and must not refill a
	// bucket the test drained.
	s := &Server{opts: o, tokens: float64(o.Bucket), seen: map[string]int{}}
	if o.StartTokens >= 0 {
		s.tokens = float64(min(o.StartTokens, o.Bucket))
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Counts returns what the server saw so far.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// ReadsOf returns how many reads of the resource were answered.
func (s *Server) ReadsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[strings.ToLower(id)]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, `{"error":{"code":"MethodNotAllowed"}}`, http.StatusMethodNotAllowed)
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.last.IsZero() {
		s.last = now
	}
	s.tokens = math.Min(float64(s.opts.Bucket), s.tokens+now.Sub(s.last).Seconds()*s.opts.RefillPerSecond)
	s.last = now
	if now.Before(s.until) && now.Sub(s.given) > InFlight {
		s.counts.Early++
	}
	if s.tokens < 1 {
		s.counts.Throttled++
		s.given, s.until = now, now.Add(s.opts.RetryAfter)
		s.mu.Unlock()
		secs := int(math.Ceil(s.opts.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":"SubscriptionRequestsThrottled","message":"Number of 'read' requests for subscription exceeded the limit."}}`))
		return
	}
	s.tokens--
	s.counts.Reads++
	s.seen[strings.ToLower(r.URL.Path)]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(StorageAccount(r.URL.Path, "eastus", "Standard_RAGRS", "westeurope"))
}

// StorageAccount is the GET body of a storage account with this ID, in this
// region, with this SKU replicating to secondary.
func StorageAccount(id, location, sku, secondary string) map[string]any {
	return map[string]any{
		"id": id, "name": path.Base(id), "type": "Microsoft.Storage/storageAccounts", "location": location,
		"kind": "StorageV2", "sku": map[string]any{"name": sku, "tier": "Standard"},
		"properties": map[string]any{
			"primaryLocation": location, "secondaryLocation": secondary, "provisioningState": "Succeeded",
			"supportsHttpsTrafficOnly": true, "minimumTlsVersion": "TLS1_2",
			"encryption": map[string]any{"keySource": "Microsoft.Storage"},
		},
	}
}

// Client returns an ARM client (pkg/resourcemanager, as serve builds it) that talks to the
// server, its reads paced by budget, retrying a 429 after its Retry-After.
func (s *Server) Client(budget *resourcemanager.ReadBudget) (*resourcemanager.Client, error) {
	conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: s.URL, Audience: "https://management.core.windows.net/"}}}
	return resourcemanager.New(staticToken{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: conf, Transport: s.Server.Client(), PerRetryPolicies: []policy.Policy{budget},
		Retry: policy.RetryOptions{MaxRetries: 5, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Second},
	}})
}

// staticToken stands in for azidentity: ARM cannot run here.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// AccountID names storage account k of a subscription.
func AccountID(subscription string, k int) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-burst/providers/Microsoft.Storage/storageAccounts/stburst%05d", subscription, k)
}

// WriteBodies returns n storage account writes in one subscription (accounts
// AccountID 0 to n-1), as Event Hubs message bodies of perBody Activity Log
// records each: one Success record per account, at the given time.
func WriteBodies(subscription string, n, perBody int, at time.Time) [][]byte {
	var bodies [][]byte
	for first := 0; first < n; first += perBody {
		var recs []map[string]any
		for k := first; k < min(n, first+perBody); k++ {
			id := AccountID(subscription, k)
			recs = append(recs, map[string]any{
				"time": at.Format(time.RFC3339Nano), "resourceId": id,
				"operationName": "Microsoft.Storage/storageAccounts/write", "category": "Administrative",
				"resultType": "Success", "resultSignature": "Succeeded.OK", "level": "Information", "location": "global",
				"correlationId": fmt.Sprintf("burst-%05d", k),
				"identity": map[string]any{"authorization": map[string]any{"scope": id, "action": "Microsoft.Storage/storageAccounts/write"},
					"claims": map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "alice@contoso.com"}},
			})
		}
		b, _ := json.Marshal(map[string]any{"records": recs})
		bodies = append(bodies, b)
	}
	return bodies
}
