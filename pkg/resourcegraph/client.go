package resourcegraph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"
)

// Limits a scan keeps to unless Options say otherwise.
const (
	// MaxSubscriptionsPerQuery is the most subscriptions one request may name:
	// "Azure CLI and PowerShell forward only the first 1,000 subscriptions to
	// Azure Resource Graph. The REST API for Azure Resource Graph accepts a
	// maximum number of subscriptions to perform the query on"
	// (https://learn.microsoft.com/azure/governance/resource-graph/troubleshoot/general#scenario-too-many-subscriptions).
	MaxSubscriptionsPerQuery = 1000
	// DefaultSubscriptionsPerQuery stays under the group size Resource Graph
	// recommends: "The group size is recommended to be less than 300"
	// (https://learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests#grouping-queries).
	DefaultSubscriptionsPerQuery = 250
	// MaxPageSize is the most rows one answer holds: "Azure Resource Graph
	// returns a maximum of 1,000 entries in a single query response" (ibid., #pagination).
	MaxPageSize = 1000
	// DefaultMaxRows is the largest result a scan accepts.
	DefaultMaxRows = 200_000
	// DefaultMaxRetries is how many times one request is sent again after 429.
	DefaultMaxRetries = 4
	// DefaultMaxWait is the longest a scan waits at once for Resource Graph's quota.
	DefaultMaxWait = time.Minute
)

// Options configure a Client. The zero value is the public cloud with the
// limits above.
type Options struct {
	// ARM holds the cloud (cloud.AzurePublic when unset, cloud.AzureGovernment
	// for management.usgovcloudapi.net) and the transport. Its retry options
	// apply to transient failures (408, 5xx); 429 is handled by the Client.
	ARM                   *arm.ClientOptions
	SubscriptionsPerQuery int           // subscriptions per request (DefaultSubscriptionsPerQuery; at most MaxSubscriptionsPerQuery)
	PageSize              int           // rows per page (MaxPageSize; at most MaxPageSize)
	MaxRows               int           // a larger result is refused (DefaultMaxRows)
	MaxRetries            int           // 429 answers sent again per request (DefaultMaxRetries; negative for none)
	MaxWait               time.Duration // longest single wait for quota (DefaultMaxWait)
	Logger                *slog.Logger
	// Total, when set, is told each query's totalRecords when its first page
	// arrives (the records it will list, subscriptions' own rows included):
	// the command line's progress adds them up.
	Total func(records int)
}

// Client queries Resource Graph.
type Client struct {
	rg    *armresourcegraph.Client
	o     Options
	log   *slog.Logger
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client that signs its requests with cred (a managed identity
// in Azure); it needs read access to the subscriptions it scans.
func New(cred azcore.TokenCredential, o Options) (*Client, error) {
	switch {
	case o.SubscriptionsPerQuery == 0:
		o.SubscriptionsPerQuery = DefaultSubscriptionsPerQuery
	case o.SubscriptionsPerQuery < 0 || o.SubscriptionsPerQuery > MaxSubscriptionsPerQuery:
		return nil, fmt.Errorf("resourcegraph: %d subscriptions per query: want 1 to %d", o.SubscriptionsPerQuery, MaxSubscriptionsPerQuery)
	}
	switch {
	case o.PageSize == 0:
		o.PageSize = MaxPageSize
	case o.PageSize < 0 || o.PageSize > MaxPageSize:
		return nil, fmt.Errorf("resourcegraph: page size %d: want 1 to %d", o.PageSize, MaxPageSize)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	var ao arm.ClientOptions
	if o.ARM != nil {
		ao = *o.ARM
	}
	ao.DisableRPRegistration = true // a reader never registers providers
	// 429 is the Client's to handle (Retry-After and Resource Graph's quota
	// headers, bounded); azcore retries the transient rest.
	ao.Retry.StatusCodes = []int{http.StatusRequestTimeout, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	rg, err := armresourcegraph.NewClient(cred, &ao)
	if err != nil {
		return nil, fmt.Errorf("resourcegraph: new client: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{rg: rg, o: o, log: log, now: time.Now, sleep: sleepCtx}, nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
