package resourcemanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/exportguard/exportguard/pkg/guard"
)

// providersAPIVersion is the api-version of the Resource Providers API
// (GET /subscriptions/{id}/providers/{namespace}).
const providersAPIVersion = "2021-04-01"

// providerVersions finds api-versions for types exportguard has no pinned
// version for (residency.location reads any resource that has a location): the
// newest stable version the resource provider lists, asked once per namespace
// and subscription and remembered.
type providerVersions struct {
	mu    sync.Mutex
	known map[string]map[string]string // sub|namespace -> lower(type) -> version
}

func (c *Client) discoveredVersion(ctx context.Context, subscription, resourceType string) (string, error) {
	ns, rest, ok := strings.Cut(resourceType, "/")
	if !ok || subscription == "" {
		return "", fmt.Errorf("no api-version known for type %q: %w", resourceType, guard.ErrUnsupported)
	}
	key := strings.ToLower(subscription + "|" + ns)
	c.pv.mu.Lock()
	types, ok := c.pv.known[key]
	c.pv.mu.Unlock()
	if !ok {
		var err error
		if types, err = c.listProvider(ctx, subscription, ns); err != nil {
			return "", err
		}
		c.pv.mu.Lock()
		if c.pv.known == nil {
			c.pv.known = map[string]map[string]string{}
		}
		c.pv.known[key] = types
		c.pv.mu.Unlock()
	}
	v, ok := types[strings.ToLower(rest)]
	if !ok {
		return "", fmt.Errorf("resource provider %s lists no stable api-version for %q: %w", ns, rest, guard.ErrUnsupported)
	}
	return v, nil
}

func (c *Client) listProvider(ctx context.Context, subscription, namespace string) (map[string]string, error) {
	u := c.c.Endpoint() + "/subscriptions/" + url.PathEscape(subscription) + "/providers/" + url.PathEscape(namespace)
	req, err := runtime.NewRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, fmt.Errorf("list provider %s: %w", namespace, err)
	}
	req.Raw().URL.RawQuery = "api-version=" + providersAPIVersion
	resp, err := c.c.Pipeline().Do(req)
	if err != nil {
		return nil, fmt.Errorf("list provider %s: %w", namespace, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list provider %s: %w", namespace, runtime.NewResponseError(resp))
	}
	var body struct {
		ResourceTypes []struct {
			ResourceType string   `json:"resourceType"`
			APIVersions  []string `json:"apiVersions"`
		} `json:"resourceTypes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBodyBytes)).Decode(&body); err != nil {
		return nil, fmt.Errorf("list provider %s: %w", namespace, err)
	}
	out := map[string]string{}
	for _, rt := range body.ResourceTypes {
		if v := newestStable(rt.APIVersions); v != "" {
			out[strings.ToLower(rt.ResourceType)] = v
		}
	}
	return out, nil
}

// newestStable picks the newest version without a suffix such as -preview.
// ARM versions are dates (YYYY-MM-DD), so they sort as strings.
func newestStable(vs []string) string {
	var stable []string
	for _, v := range vs {
		if len(v) == len("2006-01-02") {
			stable = append(stable, v)
		}
	}
	sort.Strings(stable)
	if len(stable) == 0 {
		return ""
	}
	return stable[len(stable)-1]
}
