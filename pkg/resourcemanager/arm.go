// Package resourcemanager reads resources from Azure Resource Manager, in the public cloud
// and in Azure Government. Events are triggers, not truth: the verdict rests on
// the resource as ARM returns it, so this is the pipeline's guard.ResourceReader
// in Azure. It uses azcore's ARM pipeline, which authenticates with the given
// credential (managed identity in Azure) and retries throttling (429 with
// Retry-After) and transient 5xx answers with backoff. NewDefault (default.go)
// is where the handler and every command build their client for a cloud.
package resourcemanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxBodyBytes bounds one resource body.
const MaxBodyBytes = 4 << 20

// apiVersions pins the api-version read for each resource type: the versions
// whose response shapes the rules were written against (research/azure-events.md §4).
// Other types (read for residency.location) use the newest stable version their
// resource provider lists.
// Child types read with their parent's version.
var apiVersions = map[string]string{
	"microsoft.storage/storageaccounts":                       "2024-01-01",
	"microsoft.storage/storageaccounts/blobservices":          "2024-01-01",
	"microsoft.documentdb/databaseaccounts":                   "2024-11-15",
	"microsoft.sql/servers":                                   "2023-08-01",
	"microsoft.sql/servers/encryptionprotector":               "2023-08-01",
	"microsoft.sql/servers/failovergroups":                    "2023-08-01",
	"microsoft.sql/servers/databases":                         "2023-08-01",
	"microsoft.sql/servers/databases/replicationlinks":        "2023-08-01",
	"microsoft.compute/disks":                                 "2024-03-02",
	"microsoft.compute/diskencryptionsets":                    "2024-03-02",
	"microsoft.compute/virtualmachines":                       "2024-07-01",
	"microsoft.network/networkinterfaces":                     "2024-05-01",
	"microsoft.network/networksecuritygroups":                 "2024-05-01",
	"microsoft.network/virtualnetworks":                       "2024-05-01",
	"microsoft.network/virtualnetworks/subnets":               "2024-05-01",
	"microsoft.security/locations/jitnetworkaccesspolicies":   "2020-01-01",
	"microsoft.authorization/roleassignments":                 "2022-04-01",
	"microsoft.authorization/roleassignmentschedules":         "2020-10-01",
	"microsoft.authorization/roleassignmentschedulerequests":  "2020-10-01",
	"microsoft.authorization/roleassignmentscheduleinstances": "2020-10-01",
	"microsoft.keyvault/vaults":                               "2023-07-01",
	"microsoft.keyvault/vaults/keys":                          "2023-07-01",
	// A subscription's diagnostic settings, read as a list (diagnostic_settings.go).
	"microsoft.insights/diagnosticsettings": "2021-05-01-preview",
}

// APIVersion returns the api-version exportguard reads a resource type with.
func APIVersion(resourceType string) (string, bool) {
	v, ok := apiVersions[strings.ToLower(resourceType)]
	return v, ok
}

// Cloud returns the azcore cloud configuration for a policy's cloud name
// (AzureCloud or AzureUSGovernment): management endpoint and sign-in authority.
func Cloud(name string) (cloud.Configuration, error) {
	switch name {
	case "", "AzureCloud":
		return cloud.AzurePublic, nil
	case "AzureUSGovernment":
		return cloud.AzureGovernment, nil
	}
	return cloud.Configuration{}, fmt.Errorf("arm: unknown cloud %q (want AzureCloud or AzureUSGovernment)", name)
}

// Client reads resources by ID.
type Client struct {
	c      *arm.Client
	pv     providerVersions
	budget *ReadBudget
	cred   azcore.TokenCredential
	opts   arm.ClientOptions // as given, for ClientOptions
}

// New returns a client for the cloud in opts (public by default), signed in
// with cred; commands and the handler use NewDefault. Its reads
// are paced by a ReadBudget (budget.go): the one among opts.PerRetryPolicies,
// or one of DefaultBudget's pace of its own.
func New(cred azcore.TokenCredential, opts *arm.ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &arm.ClientOptions{}
	}
	o := *opts
	o.DisableRPRegistration = true // exportguard reads; it never registers providers
	var budget *ReadBudget
	for _, p := range o.PerRetryPolicies {
		if b, ok := p.(*ReadBudget); ok {
			budget = b
		}
	}
	if budget == nil {
		budget = NewReadBudget(DefaultBudget)
		o.PerRetryPolicies = append(append([]policy.Policy(nil), o.PerRetryPolicies...), budget)
	}
	c, err := arm.NewClient("exportguard", "v0.1.0", cred, &o)
	if err != nil {
		return nil, fmt.Errorf("arm: new client: %w", err)
	}
	return &Client{c: c, budget: budget, cred: cred, opts: *opts}, nil
}

// Budget is the ReadBudget the client's reads go through.
func (c *Client) Budget() *ReadBudget { return c.budget }

// ReadResource implements guard.ResourceReader: GET the resource with the
// api-version pinned for its type. A 404 is guard.ErrNotFound.
func (c *Client) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	if err := checkID(http.MethodGet, id); err != nil {
		return nil, err
	}
	typ := guard.TypeOf(id)
	if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") {
		return nil, fmt.Errorf("arm: %q is not a resource ID", id)
	}
	if typ == "" {
		// A subscription itself (the findings of monitoring.activity-log name
		// it): nothing to read as a resource.
		return nil, fmt.Errorf("arm: GET %s: not a provider resource: %w", id, guard.ErrUnsupported)
	}
	ver, ok := APIVersion(typ)
	if !ok {
		var err error
		if ver, err = c.discoveredVersion(ctx, guard.SubscriptionOf(id), typ); err != nil {
			return nil, fmt.Errorf("arm: GET %s: %w", id, err)
		}
	}
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.c.Endpoint()+escapePath(id))
	if err != nil {
		return nil, fmt.Errorf("arm: GET %s: %w", id, err)
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", ver)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	resp, err := c.c.Pipeline().Do(req)
	if err != nil {
		return nil, fmt.Errorf("arm: GET %s: %w", id, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("arm: GET %s: %w", id, guard.ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("arm: GET %s: %w", id, runtime.NewResponseError(resp))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("arm: GET %s: read body: %w", id, err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("arm: GET %s: body larger than %d bytes", id, MaxBodyBytes)
	}
	if guard.IsDiagnosticSettingsID(id) {
		if body, err = settingsList(id, body); err != nil {
			return nil, fmt.Errorf("arm: GET %s: %w", id, err)
		}
	}
	res, err := guard.NewResource(body, responseTime(resp))
	if err != nil {
		return nil, fmt.Errorf("arm: GET %s: %w", id, err)
	}
	if res.ID == "" {
		return nil, errors.New("arm: GET " + id + ": body has no id")
	}
	if err := guard.CheckResourceID(res.ID); err != nil {
		return nil, fmt.Errorf("arm: GET %s: the body's id: %w", id, err)
	}
	return res, nil
}

// checkID refuses an ID that could name one resource as text and another once
// the URL is resolved ("…/rg/../../../subscriptions/OTHER/…"), before any URL
// is built from it (DESIGN 3.6). It is guard.ErrUnsupported too: no retry
// can make it readable or writable.
func checkID(method, id string) error {
	if err := guard.CheckResourceID(id); err != nil {
		return fmt.Errorf("arm: %s: %w: %w", method, err, guard.ErrUnsupported)
	}
	return nil
}

// escapePath escapes each segment of a resource ID for the URL path.
func escapePath(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
