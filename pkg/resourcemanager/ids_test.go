package resourcemanager

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/rules"
)

// otherID is a storage account in a subscription outside the scope; dotted
// names it once "." and ".." are resolved, and starts with the scope's
// subscription as text (issue 14 case 5; rg has four segments).
var (
	otherID = "/subscriptions/" + outer + "/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/itardrawings"
	dotted  = rg + "/../../../../subscriptions/" + outer + "/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/itardrawings"
)

func requests(f *fakeARM) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.hosts {
		n += c
	}
	return n
}

// TestClientRefusesBadIDs: the reader and the writer refuse an ID that could
// be read two ways before they build a URL: nothing reaches ARM, and the error
// is guard.ErrUnsupported (a retry cannot help), never a 404.
func TestClientRefusesBadIDs(t *testing.T) {
	fake := newFakeARM(t, map[string]string{otherID: strings.ReplaceAll(storageGRS, storageID, otherID)})
	fake.normalize = true
	c, w, _ := armClient(t, fake, "AzureCloud")
	ctx := context.Background()
	for _, id := range []string{
		dotted,
		rg + "/%2e%2e/%2e%2e/%2e%2e/subscriptions/" + outer + "/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/itardrawings",
		rg + `\..\..\..\subscriptions\` + outer,
		storageID + "/./",
		storageID + "\u0000",
		storageID + "?api-version=2099-01-01",
	} {
		_, rerr := c.ReadResource(ctx, id)
		_, perr := w.Patch(ctx, id, []byte(`{"sku":{"name":"Standard_LRS"}}`))
		_, uerr := w.Put(ctx, id, []byte(`{}`))
		derr := w.Delete(ctx, id)
		for i, err := range []error{rerr, perr, uerr, derr} {
			if !errors.Is(err, guard.ErrBadResourceID) || !errors.Is(err, guard.ErrUnsupported) || errors.Is(err, guard.ErrNotFound) {
				t.Errorf("%q: call %d: %v, want the ID refused", id, i, err)
			}
		}
	}
	if n := requests(fake); n != 0 || fake.writes != 0 {
		t.Errorf("%d requests reached ARM, %d writes; want none", n, fake.writes)
	}
}

// TestDotDotPlanReachesNoWrite: a storage account whose ID starts with the
// scope's subscription as text but names another (a front end that resolves
// ".." would serve and change the other one) opens its finding, and its
// remediation is refused in planning: ARM gets no request at all.
func TestDotDotPlanReachesNoWrite(t *testing.T) {
	fake := newFakeARM(t, map[string]string{otherID: strings.ReplaceAll(storageGRS, storageID, otherID)})
	fake.normalize = true
	w := newWorld(t, fake, "AzureCloud", autoPolicy)
	r := resource(t, strings.ReplaceAll(storageGRS, storageID, dotted))
	f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
	w.dispatch()
	got := w.finding(f.ID)
	if n := requests(fake); n != 0 || fake.writes != 0 {
		t.Fatalf("%d requests reached ARM, %d writes; want none", n, fake.writes)
	}
	if got.Remediation.Status != "none" {
		t.Errorf("remediation status %q, want none (refused)", got.Remediation.Status)
	}
}

// TestWriteRefusedWhenARMAnswersAnotherResource: the read before the write is
// answered with a body whose id is not the planned resource's (here a front end
// that maps the path elsewhere); the plan fails and nothing is written.
func TestWriteRefusedWhenARMAnswersAnotherResource(t *testing.T) {
	fake := newFakeARM(t, map[string]string{storageID: strings.ReplaceAll(storageGRS, storageID, otherID)})
	w := newWorld(t, fake, "AzureCloud", autoPolicy)
	r := resource(t, storageGRS)
	f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
	if sum := w.dispatch(); sum.Failed != 1 {
		t.Fatalf("dispatch %+v, want the plan failed", sum)
	}
	got := w.finding(f.ID)
	if fake.writes != 0 || got.Remediation.Status != "failed" {
		t.Errorf("writes %d, status %q; want no write and failed", fake.writes, got.Remediation.Status)
	}
	items, _ := w.st.ListOutbox(context.Background())
	if len(items) != 1 || !items[0].Failed || !strings.Contains(items[0].LastError, "with another resource") {
		t.Errorf("outbox %+v, want the plan failed saying ARM answered with another resource", items)
	}
}
