package report

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// A subscription is shown by the name a scan kept for it, with its ID; one
// whose name is not known (none kept, or what is kept is no name) by its ID
// alone, in the breakdown, the groups, and both formats.
func TestSubscriptionNames(t *testing.T) {
	const other = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	named := func(s, name string) *guard.Resource { return guard.NewSubscriptionName(s, name, at(0)) }
	raw := func(id, s, name string) *guard.Resource {
		body, _ := json.Marshal(map[string]string{"subscriptionId": s, "displayName": name})
		return &guard.Resource{ID: id, Type: guard.TypeSubscriptionName, ObservedAt: at(0), Body: body}
	}
	deleted := named(sub, subName)
	deleted.Deleted = true
	for _, tc := range []struct {
		name  string
		state *guard.Resource // nil: none kept
		want  string          // the name shown; "" shows the ID alone
	}{
		{"named", named(sub, subName), subName},
		{"kept with an upper-case ID", raw(guard.SubscriptionNameID(sub), strings.ToUpper(sub), subName), subName},
		{"nothing kept", nil, ""},
		{"another subscription's name", named(other, "Partner Sandbox"), ""},
		{"the name is the ID", raw(guard.SubscriptionNameID(sub), sub, strings.ToUpper(sub)), ""},
		{"a name on two lines", raw(guard.SubscriptionNameID(sub), sub, "ITAR\nEngineering"), ""},
		{"kept under another subscription's ID", raw(guard.SubscriptionNameID(other), sub, subName), ""},
		{"deleted", deleted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, ":memory:")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f := guard.Finding{ID: guard.FindingID(guard.RuleEncryptionCMK, sa, ""), Rule: guard.RuleEncryptionCMK, Severity: "medium",
				Status: guard.StatusOpen, SubscriptionID: sub, ResourceID: sa, Message: "uses Microsoft-managed keys", FirstSeen: at(0), LastSeen: at(0)}
			if _, err := st.UpdateFinding(ctx, guard.PartitionOf(sa), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
				t.Fatal(err)
			}
			if tc.state != nil {
				if err := st.PutResource(ctx, tc.state); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Build(ctx, st, &guard.Policy{}, Options{Now: at(10)})
			if err != nil {
				t.Fatal(err)
			}
			wantLabel, wantDetail := sub, ""
			if tc.want != "" {
				wantLabel, wantDetail = tc.want, sub
			}
			if len(p.BySubscription) != 1 || p.BySubscription[0].Label != wantLabel || p.BySubscription[0].Detail != wantDetail {
				t.Errorf("by subscription %+v, want label %q detail %q", p.BySubscription, wantLabel, wantDetail)
			}
			if len(p.Groups) != 1 || len(p.Groups[0].Subs) != 1 || p.Groups[0].Subs[0].SubscriptionName != tc.want {
				t.Fatalf("groups %+v, want one subscription named %q", p.Groups, tc.want)
			}
			var h, m bytes.Buffer
			if err := p.HTML(&h); err != nil {
				t.Fatal(err)
			}
			if err := p.Markdown(&m); err != nil {
				t.Fatal(err)
			}
			wantHTML := `<summary>subscription <span class="id">` + sub + `</span>:`
			wantMD := "#### Subscription " + sub + ":"
			if tc.want != "" {
				wantHTML = `<summary>subscription <strong data-testid="sub-name">` + tc.want + `</strong> (<span class="id">` + sub + `</span>):`
				wantMD = "#### Subscription " + tc.want + " (" + sub + "):"
				if !strings.Contains(h.String(), `<th scope="row" title="`+sub+`">`+tc.want+`</th>`) {
					t.Errorf("the HTML breakdown does not name the subscription with its ID on hover")
				}
			}
			if !strings.Contains(h.String(), wantHTML) {
				t.Errorf("the HTML lacks %q", wantHTML)
			}
			if !strings.Contains(m.String(), wantMD) {
				t.Errorf("the Markdown lacks %q", wantMD)
			}
			for _, leaked := range []string{"Partner Sandbox", "ITAR\nEngineering"} {
				if strings.Contains(h.String(), leaked) || strings.Contains(m.String(), leaked) {
					t.Errorf("the report shows %q, which is not this subscription's name", leaked)
				}
			}
		})
	}
}
