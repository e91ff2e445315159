package resourcemanager

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// SubscriptionAPIVersion is the api-version of GET /subscriptions/{id}.
const SubscriptionAPIVersion = "2022-12-01"

// Endpoint is the cloud's ARM endpoint the client talks to.
func (c *Client) Endpoint() string { return c.c.Endpoint() }

// GetSubscription GETs a subscription, doctor's proof that the identity signs
// in to the cloud and may read it. Whatever the status, the response is the
// caller's to read and close. An error is azcore's own (signing in, the
// network), as the pipeline returned it, for the caller to tell which.
func (c *Client) GetSubscription(ctx context.Context, id string) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, http.MethodGet, c.c.Endpoint()+"/subscriptions/"+url.PathEscape(id))
	if err != nil {
		return nil, fmt.Errorf("arm: GET subscription %s: %w", id, err)
	}
	req.Raw().URL.RawQuery = "api-version=" + SubscriptionAPIVersion
	req.Raw().Header.Set("Accept", "application/json")
	return c.c.Pipeline().Do(req)
}
