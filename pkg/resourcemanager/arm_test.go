package resourcemanager

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
)

// staticToken stands in for azidentity at the boundary: ARM cannot run here.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

const accountID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-itar/providers/Microsoft.Storage/storageAccounts/itardata"

// newServer starts a loopback TLS server that plays ARM and a client that talks to it.
func newServer(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
	}}
	c, err := New(staticToken{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: conf, Transport: srv.Client(),
		Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReadResource(t *testing.T) {
	body, err := os.ReadFile("../rules/testdata/storage_account_get.json")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != accountID || r.URL.Query().Get("api-version") != "2024-01-01" {
			t.Errorf("got %s %s?%s, want GET %s?api-version=2024-01-01", r.Method, r.URL.Path, r.URL.RawQuery, accountID)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
			t.Errorf("Authorization = %q, want the credential's bearer token", got)
		}
		if calls.Load() == 1 { // throttled once, as ARM does under load
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	res, err := c.ReadResource(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != "Microsoft.Storage/storageAccounts" || res.Location != "eastus2(stage)" || string(res.Body) != string(body) {
		t.Errorf("got %s in %s, body %d bytes; want the storage account as ARM sent it", res.Type, res.Location, len(res.Body))
	}
	if calls.Load() != 2 {
		t.Errorf("ARM was called %d times, want 2 (a 429 is retried)", calls.Load())
	}
}

func TestReadResourceNotFound(t *testing.T) {
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"ResourceNotFound","message":"gone"}}`))
	})
	_, err := c.ReadResource(context.Background(), accountID)
	if !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("err = %v, want guard.ErrNotFound", err)
	}
}

func TestReadResourceDiscoversVersionsOfOtherTypes(t *testing.T) {
	var providerCalls, gets atomic.Int32
	const vault = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/sites/app1"
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Web":
			providerCalls.Add(1)
			if r.URL.Query().Get("api-version") != "2021-04-01" {
				t.Errorf("providers api-version = %q", r.URL.Query().Get("api-version"))
			}
			w.Write([]byte(`{"namespace":"Microsoft.Web","resourceTypes":[{"resourceType":"sites","apiVersions":["2024-04-01","2024-11-01-preview","2023-12-01"]}]}`))
		case vault:
			gets.Add(1)
			if v := r.URL.Query().Get("api-version"); v != "2024-04-01" {
				t.Errorf("GET used api-version %q, want the newest stable 2024-04-01", v)
			}
			w.Write([]byte(`{"id":"` + vault + `","type":"Microsoft.Web/sites","location":"West Europe"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	for i := 0; i < 2; i++ {
		res, err := c.ReadResource(context.Background(), vault)
		if err != nil || res.Location != "West Europe" {
			t.Fatalf("read %d: %v %v", i, res, err)
		}
	}
	if providerCalls.Load() != 1 || gets.Load() != 2 {
		t.Errorf("provider listed %d times, resource read %d times; want 1 and 2", providerCalls.Load(), gets.Load())
	}
	if _, err := c.ReadResource(context.Background(), "not-an-id"); err == nil {
		t.Error("a string that is no resource ID must be refused")
	}
	_, err := c.ReadResource(context.Background(), "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/staticThings/x")
	if !errors.Is(err, guard.ErrUnsupported) {
		t.Errorf("a type the provider does not list: err = %v, want guard.ErrUnsupported", err)
	}
}

func TestCloud(t *testing.T) {
	gov, err := Cloud("AzureUSGovernment")
	if err != nil || gov.Services[cloud.ResourceManager].Endpoint != "https://management.usgovcloudapi.net" {
		t.Errorf("AzureUSGovernment management endpoint = %q (%v)", gov.Services[cloud.ResourceManager].Endpoint, err)
	}
	if _, err := Cloud("AzureChinaCloud"); err == nil {
		t.Error("an unknown cloud must be refused")
	}
}
