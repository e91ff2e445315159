package resourcemanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/exportguard/exportguard/pkg/guard"
)

// MaxListPages bounds the pages one list read follows. A list exportguard
// reads is filtered down to a few resources (a schedule's instances); more
// pages than this is not an answer it can use.
const MaxListPages = 10

// List implements guard.Lister: GET {scope}/providers/{type}?api-version=…&$filter=…,
// following nextLink for at most MaxListPages pages. A page is ARM's list
// result, {"value": [...], "nextLink": "…"}, the next page's full URL, absent
// on the last (x-ms-pageable nextLinkName "nextLink"; for the schedule
// instances, RoleAssignmentScheduleInstanceListResult in
// Azure/azure-rest-api-specs, authorization/…/stable/2020-10-01/RoleAssignmentScheduleInstance.json).
// A nextLink is followed only on the ARM endpoint the client was given: the
// bearer token goes nowhere else. A 404 (the scope is gone) is guard.ErrNotFound; a 400 (a
// filter ARM refuses) and a type with no pinned api-version are
// guard.ErrUnsupported.
func (c *Client) List(ctx context.Context, q guard.ListQuery) ([]*guard.Resource, error) {
	what := "list " + q.String()
	if err := checkID(http.MethodGet, q.Scope); err != nil {
		return nil, fmt.Errorf("arm: %s: %w", what, err)
	}
	if !strings.HasPrefix(strings.ToLower(q.Scope), "/subscriptions/") || strings.Count(q.Type, "/") < 1 || strings.ContainsAny(q.Type, "?#") {
		return nil, fmt.Errorf("arm: %s: not a scope and resource type: %w", what, guard.ErrUnsupported)
	}
	ver, ok := APIVersion(q.Type)
	if !ok {
		return nil, fmt.Errorf("arm: %s: no api-version pinned for %s: %w", what, q.Type, guard.ErrUnsupported)
	}
	endpoint, err := url.Parse(c.c.Endpoint())
	if err != nil {
		return nil, fmt.Errorf("arm: %s: endpoint: %w", what, err)
	}
	first, err := url.Parse(c.c.Endpoint() + escapePath(strings.TrimRight(q.Scope, "/")+"/providers/"+q.Type))
	if err != nil {
		return nil, fmt.Errorf("arm: %s: %w", what, err)
	}
	v := url.Values{}
	v.Set("api-version", ver)
	v.Set("$filter", q.Filter())
	// A space is %20, not "+": a query string is not a form.
	first.RawQuery = strings.ReplaceAll(v.Encode(), "+", "%20")
	next := first.String()
	var out []*guard.Resource
	for page := 0; next != ""; page++ {
		if page == MaxListPages {
			return nil, fmt.Errorf("arm: %s: more than %d pages: %w", what, MaxListPages, guard.ErrUnsupported)
		}
		u, err := url.Parse(next)
		if err != nil || u.Scheme != endpoint.Scheme || !strings.EqualFold(u.Host, endpoint.Host) {
			return nil, fmt.Errorf("arm: %s: page %d: nextLink is not on %s", what, page+1, endpoint.Host)
		}
		var rs []*guard.Resource
		if rs, next, err = c.listPage(ctx, u.String()); err != nil {
			return nil, fmt.Errorf("arm: %s: page %d: %w", what, page+1, err)
		}
		out = append(out, rs...)
	}
	if out == nil {
		out = []*guard.Resource{}
	}
	return out, nil
}

// listPage reads one page of a list: its resources and the next page's link.
func (c *Client) listPage(ctx context.Context, link string) ([]*guard.Resource, string, error) {
	req, err := runtime.NewRequest(ctx, http.MethodGet, link)
	if err != nil {
		return nil, "", err
	}
	req.Raw().Header.Set("Accept", "application/json")
	resp, err := c.c.Pipeline().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", guard.ErrNotFound
	case http.StatusBadRequest:
		return nil, "", fmt.Errorf("%w: %w", runtime.NewResponseError(resp), guard.ErrUnsupported)
	default:
		return nil, "", runtime.NewResponseError(resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, "", fmt.Errorf("body larger than %d bytes", MaxBodyBytes)
	}
	var page struct {
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", fmt.Errorf("list body: %w", err)
	}
	at := responseTime(resp)
	out := make([]*guard.Resource, 0, len(page.Value))
	for i, raw := range page.Value {
		res, err := guard.NewResource(raw, at)
		if err != nil {
			return nil, "", fmt.Errorf("value[%d]: %w", i, err)
		}
		if err := guard.CheckResourceID(res.ID); err != nil {
			return nil, "", fmt.Errorf("value[%d]: the body's id: %w", i, err)
		}
		out = append(out, res)
	}
	return out, strings.TrimSpace(page.NextLink), nil
}
