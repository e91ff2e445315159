package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testResources(t *testing.T, open Opener) {
	t.Run("GetResource of an absent ID is ErrNotFound", func(t *testing.T) {
		s := open(t)
		r, err := s.GetResource(t.Context(), sa1)
		wantNotFound(t, "GetResource", err)
		if r != nil {
			t.Errorf("GetResource: got %+v, want nil", r)
		}
	})

	t.Run("PutResource replaces the state before", func(t *testing.T) {
		s := open(t)
		v1 := resource(sa1, "westeurope", t0)
		v2 := resource(sa1, "eastus", t0.Add(time.Minute))
		v3 := resource(sa1, "eastus", t0.Add(2*time.Minute))
		v3.Deleted, v3.Body = true, nil

		putResource(t, s, v1)
		diff(t, "GetResource after the first", &v1, getResource(t, s, sa1))
		putResource(t, s, v2)
		diff(t, "GetResource after the second", &v2, getResource(t, s, sa1))
		putResource(t, s, v3)
		diff(t, "GetResource after the third", &v3, getResource(t, s, sa1))
		diff(t, "ListResources", []guard.Resource{v3}, listResources(t, s))
	})

	t.Run("resource IDs are case-insensitive", func(t *testing.T) {
		s := open(t)
		v1 := resource(sa1, "westeurope", t0)
		putResource(t, s, v1)
		for _, id := range []string{sa1, sa1Lower, rgPrefix + "sa1", sa1 + "/", " " + sa1Lower} {
			if guard.IDKey(id) != guard.IDKey(sa1) {
				t.Fatalf("test bug: IDKey(%q) != IDKey(%q)", id, sa1)
			}
			diff(t, "GetResource "+id, &v1, getResource(t, s, id))
		}

		v2 := resource(sa1Lower, "eastus", t0.Add(time.Minute))
		putResource(t, s, v2)
		diff(t, "GetResource after PutResource in other casing", &v2, getResource(t, s, sa1))
		diff(t, "ListResources", []guard.Resource{v2}, listResources(t, s))
	})

	t.Run("Body, Deleted and FromEvent round-trip", func(t *testing.T) {
		body := json.RawMessage(`{"id":"` + sa1 + `","type":"Microsoft.Storage/storageAccounts",` +
			`"location":"westeurope","sku":{"name":"Standard_GRS"},"tags":{"owner":"<team & co>"},` +
			`"properties":{"minimumTlsVersion":"TLS1_2","networkAcls":{"ipRules":[]},"n":12.5}}`)
		for _, tc := range []struct {
			name string
			r    guard.Resource
		}{
			{"with body", guard.Resource{ID: sa1, Type: "Microsoft.Storage/storageAccounts",
				Location: "westeurope", ObservedAt: t0, Body: body}},
			{"deleted, no body", guard.Resource{ID: sa1, Type: "Microsoft.Storage/storageAccounts",
				Location: "westeurope", Deleted: true, ObservedAt: t0}},
			{"deleted, with body", guard.Resource{ID: sa1, Type: "Microsoft.Storage/storageAccounts",
				Deleted: true, ObservedAt: t0, Body: body}},
			// What an event carried is told apart from what ARM answered (DESIGN 3.6).
			{"carried by an event", guard.Resource{ID: sa1, Type: "Microsoft.Storage/storageAccounts",
				Location: "westeurope", ObservedAt: t0, Body: body, FromEvent: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				putResource(t, s, tc.r)
				got := getResource(t, s, sa1)
				diff(t, "GetResource", &tc.r, got)
				if got.Deleted != tc.r.Deleted || got.FromEvent != tc.r.FromEvent {
					t.Errorf("GetResource: got Deleted %v, FromEvent %v; want %v, %v", got.Deleted, got.FromEvent, tc.r.Deleted, tc.r.FromEvent)
				}
				wantUTC(t, "GetResource", got.ObservedAt)
				diff(t, "ListResources", []guard.Resource{tc.r}, listResources(t, s))
			})
		}
	})

	t.Run("a child's state is its own, in its parent's partition", func(t *testing.T) {
		s := open(t)
		parent, child := resource(sa1, "westeurope", t0), resource(sa1Blob, "westeurope", t0)
		putResource(t, s, parent)
		putResource(t, s, child)
		parent2 := resource(sa1Lower, "eastus", t0.Add(time.Minute))
		putResource(t, s, parent2)
		diff(t, "GetResource of the parent", &parent2, getResource(t, s, sa1))
		diff(t, "GetResource of the child", &child, getResource(t, s, sa1Blob))
		child2 := resource(sa1Blob, "eastus", t0.Add(2*time.Minute))
		child2.Deleted = true
		putResource(t, s, child2)
		diff(t, "GetResource of the parent after the child's", &parent2, getResource(t, s, sa1))
		diff(t, "ListResources", []guard.Resource{parent2, child2}, listResources(t, s))
	})

	t.Run("ListResources is sorted by ID key", func(t *testing.T) {
		s := open(t)
		if rs := listResources(t, s); len(rs) != 0 {
			t.Errorf("ListResources of an empty store: got %d resources, want 0", len(rs))
		}
		// Byte order would give Beta, Gamma, SA1, SA1/blobServices, alpha.
		var want []guard.Resource
		for _, id := range []string{gamma, sa1Blob, sa1, alpha, beta} {
			putResource(t, s, resource(id, "westeurope", t0))
		}
		for _, id := range []string{alpha, beta, gamma, sa1, sa1Blob} {
			want = append(want, resource(id, "westeurope", t0))
		}
		diff(t, "ListResources", want, listResources(t, s))
	})
}

func resource(id, location string, observed time.Time) guard.Resource {
	return guard.Resource{
		ID: id, Type: "Microsoft.Storage/storageAccounts", Location: location, ObservedAt: observed,
		Body: json.RawMessage(`{"id":"` + id + `","location":"` + location + `","properties":{"supportsHttpsTrafficOnly":true}}`),
	}
}

func putResource(t *testing.T, s guard.Store, r guard.Resource) {
	t.Helper()
	mustNil(t, "PutResource "+r.ID, s.PutResource(t.Context(), &r))
}

func getResource(t *testing.T, s guard.Store, id string) *guard.Resource {
	t.Helper()
	r, err := s.GetResource(t.Context(), id)
	mustNil(t, "GetResource "+id, err)
	if r == nil {
		t.Fatalf("GetResource %s: got nil, nil", id)
	}
	return r
}

func listResources(t *testing.T, s guard.Store) []guard.Resource {
	t.Helper()
	rs, err := s.ListResources(t.Context())
	mustNil(t, "ListResources", err)
	return rs
}
