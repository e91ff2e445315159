package resourcegraph

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestRowBody: a storage account's row (testdata/storage_account_row.json, in
// the shape Resource Graph gives: type in lower case, its own tenantId,
// resourceGroup and subscriptionId columns, "" and null for what the account
// lacks) becomes the body in testdata/golden, an ARM GET's shape, and the
// residency rule judges it as it judges an ARM body.
func TestRowBody(t *testing.T) {
	raw, err := os.ReadFile("testdata/storage_account_row.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	res, err := row(m).resource(scanTime)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, res.Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "golden", "storage_account_row.body.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("body differs from %s (go test -update rewrites it):\n%s", golden, pretty.String())
	}
	if res.Type != "Microsoft.Storage/storageAccounts" || res.Location != "westeurope" || !res.FromEvent || !res.ObservedAt.Equal(scanTime) {
		t.Errorf("resource: Type %q, Location %q, FromEvent %v, ObservedAt %s", res.Type, res.Location, res.FromEvent, res.ObservedAt)
	}
	us := &guard.Policy{AllowedGeographies: []string{"United States"}}
	vs := rules.StorageReplication{}.Evaluate(guard.Input{Policy: us, Resource: res, Now: scanTime})
	if len(vs) != 1 || !vs[0].Violation || vs[0].Evidence["secondaryLocation"] != "northeurope" {
		t.Errorf("residency.replication on the row: %+v, want a violation naming northeurope", vs)
	}
}

// recorder is a transport that answers an empty page without a network, and
// remembers where the request went.
type recorder struct{ hosts []string }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.hosts = append(r.hosts, req.URL.Host)
	body := `{"totalRecords":0,"count":0,"data":[],"facets":[],"resultTruncated":"false"}`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// TestClouds: the request goes to the management endpoint of the cloud given,
// with a token for that cloud's audience.
func TestClouds(t *testing.T) {
	tests := []struct {
		name      string
		cloud     cloud.Configuration
		wantHost  string
		wantScope string
	}{
		{"default is the public cloud", cloud.Configuration{}, "management.azure.com", "https://management.core.windows.net//.default"},
		{"Azure public", cloud.AzurePublic, "management.azure.com", "https://management.core.windows.net//.default"},
		{"Azure Government", cloud.AzureGovernment, "management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net//.default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tok := &recorder{}, &testToken{}
			c, err := New(tok, Options{ARM: &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: tt.cloud, Transport: rec}}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Scan(context.Background(), []string{sub(1)}, []string{typeStorage}, func(*guard.Resource) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.hosts) != 1 || rec.hosts[0] != tt.wantHost {
				t.Errorf("requests went to %v, want %s", rec.hosts, tt.wantHost)
			}
			if len(tok.scopes) == 0 || tok.scopes[0] != tt.wantScope {
				t.Errorf("token scopes %v, want %s", tok.scopes, tt.wantScope)
			}
			if len(st.Unseen) != 1 {
				t.Errorf("an empty answer shows no subscription: Unseen = %v", st.Unseen)
			}
		})
	}
}

// TestThrottleHeaders: how long an answer asks to wait.
func TestThrottleHeaders(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		h         http.Header
		wantRetry time.Duration // after a 429
		wantQuota time.Duration // after a success
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, 0},
		{"Retry-After date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, 0},
		{"retry-after-ms first", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond, 0},
		{"quota spent", http.Header{"X-Ms-User-Quota-Remaining": {"0"}, "X-Ms-User-Quota-Resets-After": {"00:01:02"}}, 62 * time.Second, 62 * time.Second},
		{"quota left", http.Header{"X-Ms-User-Quota-Remaining": {"3"}, "X-Ms-User-Quota-Resets-After": {"00:00:04"}}, 4 * time.Second, 0},
		{"quota spent, reset unreadable", http.Header{"X-Ms-User-Quota-Remaining": {"0"}, "X-Ms-User-Quota-Resets-After": {"soon"}}, quotaWindow, quotaWindow},
		{"nothing said", http.Header{}, quotaWindow, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.h, now); got != tt.wantRetry {
				t.Errorf("retryAfter = %s, want %s", got, tt.wantRetry)
			}
			if got := quotaWait(tt.h); got != tt.wantQuota {
				t.Errorf("quotaWait = %s, want %s", got, tt.wantQuota)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		types []string
		typ   string
		want  bool
	}{
		{[]string{typeStorage}, "microsoft.storage/STORAGEACCOUNTS", true},
		{[]string{typeStorage}, typeDisk, false},
		{[]string{AllTypes}, typeDisk, true},
		{[]string{AllTypes}, "Microsoft.Authorization/roleAssignments", false}, // another table, not asked
		{[]string{AllTypes, "Microsoft.Authorization/roleAssignments"}, "Microsoft.Authorization/roleAssignments", true},
		{[]string{AllTypes, "Microsoft.Sql/servers/encryptionProtector"}, "Microsoft.Sql/servers/encryptionProtector", false}, // in no table
		{[]string{AllTypes}, "Microsoft.Storage/storageAccounts/blobServices", false},
		{[]string{AllTypes}, "Microsoft.Resources/subscriptions", false},
		{[]string{AllTypes}, "", false},
		{[]string{"not a type"}, typeStorage, false},
	}
	for _, tt := range tests {
		if got := Covers(tt.types, tt.typ); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.types, tt.typ, got, tt.want)
		}
	}
}
