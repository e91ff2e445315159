package resourcemanager

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// passPolicy is a pipeline policy of the caller's that the cloud's other
// clients keep (unlike the read budget).
type passPolicy struct{}

func (passPolicy) Do(req *policy.Request) (*http.Response, error) { return req.Next() }

// TestNewDefault: the named cloud picks the endpoint the client reads and the
// cloud its options carry for Resource Graph; the caller's credential and
// options are kept, its read budget is not handed on.
func TestNewDefault(t *testing.T) {
	endpoint := func(c cloud.Configuration) string { return c.Services[cloud.ResourceManager].Endpoint }
	tests := []struct {
		name, cloud  string
		arm          *arm.ClientOptions
		wantEndpoint string
		wantErr      bool
	}{
		{name: "public by default", cloud: "", wantEndpoint: endpoint(cloud.AzurePublic)},
		{name: "public", cloud: "AzureCloud", wantEndpoint: endpoint(cloud.AzurePublic)},
		{name: "government", cloud: "AzureUSGovernment", wantEndpoint: endpoint(cloud.AzureGovernment)},
		{name: "options without a cloud take the named one", cloud: "AzureUSGovernment",
			arm:          &arm.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1}}},
			wantEndpoint: endpoint(cloud.AzureGovernment)},
		{name: "options' own cloud wins", cloud: "AzureUSGovernment",
			arm: &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: cloud.Configuration{
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: "https://127.0.0.1:1", Audience: "x"}}}}},
			wantEndpoint: "https://127.0.0.1:1"},
		{name: "unknown cloud", cloud: "AzureChinaCloud", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewDefault(tc.cloud, Options{Credential: staticToken{}, ARM: tc.arm})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewDefault(%q) = nil error, want one", tc.cloud)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Endpoint(); got != tc.wantEndpoint {
				t.Errorf("Endpoint() = %q, want %q", got, tc.wantEndpoint)
			}
			if got := endpoint(c.ClientOptions().Cloud); got != tc.wantEndpoint {
				t.Errorf("ClientOptions().Cloud's ARM endpoint = %q, want %q", got, tc.wantEndpoint)
			}
			if _, ok := c.Credential().(staticToken); !ok {
				t.Errorf("Credential() = %T, want the caller's", c.Credential())
			}
		})
	}
}

// TestNewDefaultSharesOptionsWithoutBudget: Resource Graph, built from
// ClientOptions, keeps the caller's policies but not ARM's read budget.
func TestNewDefaultSharesOptionsWithoutBudget(t *testing.T) {
	budget := NewReadBudget(DefaultBudget)
	c, err := NewDefault("AzureCloud", Options{Credential: staticToken{},
		ARM: &arm.ClientOptions{ClientOptions: policy.ClientOptions{PerRetryPolicies: []policy.Policy{passPolicy{}, budget}}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Budget() != budget {
		t.Errorf("Budget() is not the caller's")
	}
	got := c.ClientOptions().PerRetryPolicies
	if len(got) != 1 {
		t.Fatalf("ClientOptions().PerRetryPolicies = %v, want the caller's passPolicy only", got)
	}
	if _, ok := got[0].(passPolicy); !ok {
		t.Errorf("ClientOptions().PerRetryPolicies[0] = %T, want passPolicy", got[0])
	}
}

// TestGetSubscription: doctor's read of a subscription goes to the cloud's
// endpoint, signed in, through the read budget, and hands back any status.
func TestGetSubscription(t *testing.T) {
	const sub = "00000000-0000-0000-0000-000000000001"
	for _, status := range []int{http.StatusOK, http.StatusForbidden, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/subscriptions/"+sub || r.URL.Query().Get("api-version") != SubscriptionAPIVersion {
					t.Errorf("got %s %s?%s, want GET /subscriptions/%s?api-version=%s", r.Method, r.URL.Path, r.URL.RawQuery, sub, SubscriptionAPIVersion)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
					t.Errorf("Authorization = %q, want the credential's bearer token", got)
				}
				w.WriteHeader(status)
				io.WriteString(w, `{"displayName":"itar"}`)
			}))
			t.Cleanup(srv.Close)
			conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"}}}
			c, err := NewDefault("AzureCloud", Options{Credential: staticToken{},
				ARM: &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf, Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.GetSubscription(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != status {
				t.Errorf("status = %d, want %d", resp.StatusCode, status)
			}
			if got := c.Budget().Reads(); got != 1 {
				t.Errorf("budget counted %d reads, want 1", got)
			}
		})
	}
}
