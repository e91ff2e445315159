package resourcegraph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Stats say what a scan did and what it could not see.
type Stats struct {
	Requests      int            // Resource Graph requests sent: every page, every retry
	Throttled     int            // answers that were 429
	Waited        time.Duration  // time spent waiting for Resource Graph's quota
	Resources     int            // rows handed to each
	Skipped       int            // rows of a subscription not asked for, left out
	Subscriptions map[string]int // rows per subscription asked (lower case)
	// Unseen are the subscriptions asked for that Resource Graph did not show
	// (no read access, or no such subscription): none of their resources is
	// in the result, and their absence from it says nothing.
	Unseen []string
	// Names are the display names of the subscriptions shown (lower case ID
	// to name), as their own rows' name column holds them; a subscription
	// whose row names none (or only its ID) is not in it.
	Names map[string]string
	// NotInGraph are the types asked for that no Resource Graph table holds;
	// whoever needs them reads them from ARM.
	NotInGraph []string
}

// Scan reads every resource of the given types (compared in lower case;
// AllTypes for every type in Resources) in the subscriptions, and calls each
// with every one, as a state not read from ARM (guard.Resource.FromEvent). It
// sends one query per table per group of subscriptions and follows $skipToken
// to the last page. An error from each stops the scan and is returned. After
// an error the resources already handed on stand, but the scan is incomplete:
// nothing may be taken as gone because it did not list it.
func (c *Client) Scan(ctx context.Context, subscriptions, types []string, each func(*guard.Resource) error) (Stats, error) {
	st := Stats{Subscriptions: map[string]int{}, Names: map[string]string{}}
	subs, err := subscriptionsOf(subscriptions)
	if err != nil {
		return st, err
	}
	qs, notIn, err := plan(types)
	if err != nil {
		return st, err
	}
	st.NotInGraph = notIn
	for _, s := range subs {
		st.Subscriptions[s] = 0
	}
	sc := &scan{Stats: &st}
	for start := 0; start < len(subs); start += c.o.SubscriptionsPerQuery {
		batch := subs[start:min(start+c.o.SubscriptionsPerQuery, len(subs))]
		for _, tq := range qs {
			seen, err := c.query(ctx, batch, tq, sc, each)
			if err != nil {
				return st, err
			}
			if tq.table != "resources" {
				continue
			}
			for _, s := range batch {
				if !seen[s] {
					st.Unseen = append(st.Unseen, s)
				}
			}
		}
	}
	if len(st.Unseen) > 0 {
		c.log.Warn("Resource Graph did not show some subscriptions: no read access, or no such subscription; their resources were not scanned",
			"subscriptions", st.Unseen)
	}
	return st, nil
}

// query runs one query over one group of subscriptions to its last page, and
// returns the subscriptions whose own row it listed.
func (c *Client) query(ctx context.Context, batch []string, tq tableQuery, sc *scan, each func(*guard.Resource) error) (map[string]bool, error) {
	st, rows := sc.Stats, &sc.rows
	text := tq.text()
	what := fmt.Sprintf("resourcegraph: query %s over %d subscriptions (%s…)", tq.table, len(batch), batch[0])
	inBatch := make(map[string]bool, len(batch))
	for _, s := range batch {
		inBatch[s] = true
	}
	seen := map[string]bool{}
	req := armresourcegraph.QueryRequest{
		Query:         to.Ptr(text),
		Subscriptions: to.SliceOfPtrs(batch...),
		Options: &armresourcegraph.QueryRequestOptions{
			Top:          to.Ptr(int32(c.o.PageSize)),
			ResultFormat: to.Ptr(armresourcegraph.ResultFormatObjectArray),
		},
	}
	got := 0 // rows received for this query, subscriptions' own included
	maxPages := c.o.MaxRows/c.o.PageSize + 2
	for page := 1; ; page++ {
		if page > maxPages {
			return seen, fmt.Errorf("%s: more than %d pages: refused", what, maxPages)
		}
		resp, err := c.page(ctx, req, sc)
		if err != nil {
			return seen, fmt.Errorf("%s, page %d: %w", what, page, err)
		}
		data, ok := resp.Data.([]any)
		if !ok || resp.TotalRecords == nil || resp.Count == nil {
			return seen, fmt.Errorf("%s, page %d: malformed answer: no data array, count or totalRecords", what, page)
		}
		if total := int(*resp.TotalRecords); *rows+total-got > c.o.MaxRows+len(batch) {
			return seen, fmt.Errorf("%s, page %d: %d records, more than the %d a scan accepts: refused", what, page, total, c.o.MaxRows)
		}
		if page == 1 && c.o.Total != nil {
			c.o.Total(int(*resp.TotalRecords))
		}
		now := c.now()
		for i, d := range data {
			m, ok := d.(map[string]any)
			if !ok {
				return seen, fmt.Errorf("%s, page %d: malformed answer: row %d is not an object", what, page, i)
			}
			r := row(m)
			got++
			sub := r.subscription()
			if r.isSubscription() {
				seen[sub] = inBatch[sub]
				if name := guard.SubscriptionName(sub, r.str("name")); name != "" && inBatch[sub] {
					st.Names[sub] = name
				}
				continue
			}
			if !inBatch[sub] {
				st.Skipped++
				c.log.Debug("row of a subscription not asked for; left out", "resourceId", r.str("id"))
				continue
			}
			res, err := r.resource(now)
			if err != nil {
				return seen, fmt.Errorf("%s, page %d: malformed answer: %w", what, page, err)
			}
			if *rows++; *rows > c.o.MaxRows {
				return seen, fmt.Errorf("%s: more than %d resources: refused", what, c.o.MaxRows)
			}
			st.Resources++
			st.Subscriptions[sub]++
			if err := each(res); err != nil {
				return seen, fmt.Errorf("%s: %s: %w", what, res.ID, err)
			}
		}
		if resp.SkipToken == nil || *resp.SkipToken == "" {
			// "When resultTruncated is true, the $skipToken property isn't set"
			// (work-with-data#paging-results): rows are missing and no page brings them.
			if resp.ResultTruncated != nil && *resp.ResultTruncated == armresourcegraph.ResultTruncatedTrue && got < int(*resp.TotalRecords) {
				return seen, fmt.Errorf("%s: result truncated at %d of %d records", what, got, *resp.TotalRecords)
			}
			return seen, nil
		}
		req.Options.SkipToken = resp.SkipToken
	}
}

// scan is what one Scan carries from request to request.
type scan struct {
	*Stats
	rows int           // resources handed on
	hold time.Duration // wait before the next request: the last answer left no quota
}

// page sends one request, again after each 429 (up to MaxRetries, waiting what
// the answer asks, at most MaxWait at once). When the previous answer left no
// quota, it first waits for the quota to reset (at most MaxWait).
func (c *Client) page(ctx context.Context, req armresourcegraph.QueryRequest, sc *scan) (armresourcegraph.QueryResponse, error) {
	st := sc.Stats
	if sc.hold > 0 {
		if err := c.wait(ctx, min(sc.hold, c.o.MaxWait), st); err != nil {
			return armresourcegraph.QueryResponse{}, err
		}
		sc.hold = 0
	}
	for attempt := 0; ; attempt++ {
		var raw *http.Response
		st.Requests++
		resp, err := c.rg.Resources(policy.WithCaptureResponse(ctx, &raw), req, nil)
		if err == nil {
			sc.hold = quotaWait(raw.Header)
			return resp.QueryResponse, nil
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusTooManyRequests {
			return resp.QueryResponse, err
		}
		st.Throttled++
		if attempt >= c.o.MaxRetries {
			return resp.QueryResponse, fmt.Errorf("throttled (429) %d times, giving up: %w", attempt+1, err)
		}
		d := retryAfter(re.RawResponse.Header, c.now())
		if d > c.o.MaxWait {
			return resp.QueryResponse, fmt.Errorf("throttled (429) and asked to wait %s, longer than %s: %w", d, c.o.MaxWait, err)
		}
		c.log.Info("Resource Graph throttled the scan; waiting as asked", "wait", d, "attempt", attempt+1)
		if werr := c.wait(ctx, d, st); werr != nil {
			return resp.QueryResponse, werr
		}
	}
}

func (c *Client) wait(ctx context.Context, d time.Duration, st *Stats) error {
	st.Waited += d
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("waiting %s for Resource Graph's quota: %w", d, err)
	}
	return nil
}
