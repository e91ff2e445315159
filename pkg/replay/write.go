package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The write side of a session's ARM, for remediation in replay. A write becomes
// a new observation of the resource at the replay clock, so that later reads
// (the sweep, the remediation's own read back) see the fix, as they would in
// Azure. Writes are kept in order (Writes) for tests and the replay summary.
//
//   - PATCH merges the body into the latest state (JSON merge patch, RFC 7386),
//     as ARM's PATCH does for the properties it is given; a Cosmos DB
//     account's read and write regions and failover policies follow a change
//     of its locations, as the service computes them. PATCH of
//     {scope}/providers/Microsoft.Resources/tags/default with operation Merge
//     merges properties.tags into the scope resource's tags (the Tags API).
//   - PUT replaces the state with the body (id, name, type and location kept
//     when the body leaves them out).
//   - DELETE marks the resource deleted; a child that its parent's body lists
//     (an NSG's securityRules[], by id) is removed from the parent's body too.
//
// There is no long-running operation in replay: each write is done at once.
// An ID guard.CheckResourceID refuses is never written nor recorded (wrapped
// guard.ErrUnsupported), as package resourcemanager refuses it in Azure.

// Write is one write made to a session's ARM.
type Write struct {
	Method string          `json:"method"`
	ID     string          `json:"id"`
	Body   json.RawMessage `json:"body,omitempty"`
	At     time.Time       `json:"at"`
}

// Writes returns the writes made so far, in order.
func (a *ARM) Writes() []Write {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Write(nil), a.writes...)
}

// latest returns the state at now, or nil when unknown or deleted. The caller
// holds a.mu.
func (a *ARM) latest(id string, now time.Time) *observation {
	obs := a.byID[guard.IDKey(id)]
	i := sort.Search(len(obs), func(i int) bool { return obs[i].at.After(now) }) - 1
	if i < 0 || obs[i].deleted {
		return nil
	}
	return &obs[i]
}

// record appends a new observation at now. The caller holds a.mu.
func (a *ARM) record(id string, now time.Time, body json.RawMessage, deleted bool) {
	key := guard.IDKey(id)
	obs := append(a.byID[key], observation{at: now, body: body, deleted: deleted})
	sort.SliceStable(obs, func(i, j int) bool { return obs[i].at.Before(obs[j].at) })
	a.byID[key] = obs
}

// Patch implements the remediation Writer: a JSON merge patch at the replay clock.
func (a *ARM) Patch(_ context.Context, id string, body []byte) (*guard.Resource, error) {
	if err := checkID(http.MethodPatch, id); err != nil {
		return nil, err
	}
	now := a.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes = append(a.writes, Write{Method: http.MethodPatch, ID: id, Body: append(json.RawMessage(nil), body...), At: now})
	if scope, ok := tagsScope(id); ok {
		return a.patchTags(id, scope, body, now)
	}
	cur := a.latest(id, now)
	if cur == nil {
		return nil, fmt.Errorf("PATCH %s at %s: %w", id, now.Format(time.RFC3339), guard.ErrNotFound)
	}
	merged, err := mergePatch(cur.body, body)
	if err != nil {
		return nil, fmt.Errorf("PATCH %s: %w", id, err)
	}
	if strings.EqualFold(guard.TypeOf(id), "Microsoft.DocumentDB/databaseAccounts") {
		merged = cosmosRegionsFollow(merged)
	}
	a.record(id, now, merged, false)
	return guard.NewResource(merged, now)
}

// Put implements the remediation Writer: the body becomes the state.
func (a *ARM) Put(_ context.Context, id string, body []byte) (*guard.Resource, error) {
	if err := checkID(http.MethodPut, id); err != nil {
		return nil, err
	}
	now := a.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes = append(a.writes, Write{Method: http.MethodPut, ID: id, Body: append(json.RawMessage(nil), body...), At: now})
	doc, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", id, err)
	}
	keep := map[string]any{"id": id}
	if cur := a.latest(id, now); cur != nil {
		if old, err := decodeObject(cur.body); err == nil {
			for _, k := range []string{"id", "name", "type", "location"} {
				if v, ok := old[k]; ok {
					keep[k] = v
				}
			}
		}
	}
	for k, v := range keep {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: %w", id, err)
	}
	a.record(id, now, out, false)
	return guard.NewResource(out, now)
}

// Delete implements the remediation Writer. Deleting what is not there is not
// an error, as ARM answers 204 or 404 and both mean gone.
func (a *ARM) Delete(_ context.Context, id string) error {
	if err := checkID(http.MethodDelete, id); err != nil {
		return err
	}
	now := a.clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes = append(a.writes, Write{Method: http.MethodDelete, ID: id, At: now})
	if a.latest(id, now) != nil {
		a.record(id, now, json.RawMessage(`{"id":`+quote(id)+`}`), true)
	}
	// A child its parent lists inline goes from the parent's body too.
	if parent := guard.ParentOf(id); parent != "" {
		if cur := a.latest(parent, now); cur != nil {
			if body, removed := removeChild(cur.body, id); removed {
				a.record(parent, now, body, false)
			}
		}
	}
	return nil
}

func (a *ARM) patchTags(id, scope string, body []byte, now time.Time) (*guard.Resource, error) {
	var req struct {
		Operation  string `json:"operation"`
		Properties struct {
			Tags map[string]string `json:"tags"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("PATCH %s: %w", id, err)
	}
	if !strings.EqualFold(req.Operation, "Merge") {
		return nil, fmt.Errorf("PATCH %s: replay supports the Tags API's Merge operation only, not %q", id, req.Operation)
	}
	cur := a.latest(scope, now)
	if cur == nil {
		return nil, fmt.Errorf("PATCH %s at %s: %w", id, now.Format(time.RFC3339), guard.ErrNotFound)
	}
	doc, err := decodeObject(cur.body)
	if err != nil {
		return nil, fmt.Errorf("PATCH %s: recorded body of %s: %w", id, scope, err)
	}
	tags, _ := doc["tags"].(map[string]any)
	if tags == nil {
		tags = map[string]any{}
	}
	for k, v := range req.Properties.Tags {
		tags[k] = v
	}
	doc["tags"] = tags
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	a.record(scope, now, out, false)
	resp, _ := json.Marshal(map[string]any{"id": id, "name": "default", "type": "Microsoft.Resources/tags",
		"properties": map[string]any{"tags": tags}})
	return guard.NewResource(resp, now)
}

// cosmosRegionsFollow does what Cosmos DB does when an account's locations
// change: its read regions, write region and failover policies follow them
// (readLocations, writeLocations and failoverPolicies are read-only, computed
// from locations). Only a single-write-region account is modelled: the write
// region is the location of failover priority 0.
func cosmosRegionsFollow(body json.RawMessage) json.RawMessage {
	doc, err := decodeObject(body)
	if err != nil {
		return body
	}
	props, _ := doc["properties"].(map[string]any)
	locs, ok := props["locations"].([]any)
	if !ok {
		return body
	}
	var write, policies []any
	for _, l := range locs {
		m, _ := l.(map[string]any)
		if m == nil {
			continue
		}
		policies = append(policies, map[string]any{"id": m["id"], "locationName": m["locationName"], "failoverPriority": m["failoverPriority"]})
		if p, _ := m["failoverPriority"].(json.Number); p.String() == "0" {
			write = append(write, m)
		}
	}
	props["readLocations"], props["writeLocations"], props["failoverPolicies"] = locs, write, policies
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// tagsScope returns the scope of a Tags API ID ({scope}/providers/Microsoft.Resources/tags/default).
func tagsScope(id string) (string, bool) {
	const suffix = "/providers/microsoft.resources/tags/default"
	l := strings.ToLower(strings.TrimRight(id, "/"))
	if !strings.HasSuffix(l, suffix) {
		return "", false
	}
	return strings.TrimRight(id, "/")[:len(l)-len(suffix)], true
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(target, patch []byte) (json.RawMessage, error) {
	t, err := decodeObject(target)
	if err != nil {
		return nil, fmt.Errorf("recorded body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	var p any
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("patch body: %w", err)
	}
	return json.Marshal(merge(t, p))
}

func merge(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = merge(tm[k], v)
	}
	return tm
}

// removeChild removes, from any array under the body's properties, the element
// whose id is the child's.
func removeChild(body []byte, child string) (json.RawMessage, bool) {
	doc, err := decodeObject(body)
	if err != nil {
		return nil, false
	}
	props, _ := doc["properties"].(map[string]any)
	removed := false
	for k, v := range props {
		arr, ok := v.([]any)
		if !ok {
			continue
		}
		kept := arr[:0:0]
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				if id, _ := m["id"].(string); guard.SameID(id, child) {
					removed = true
					continue
				}
			}
			kept = append(kept, e)
		}
		props[k] = kept
	}
	if !removed {
		return nil, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return out, true
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
