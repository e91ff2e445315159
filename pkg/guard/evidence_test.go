package guard_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The accessors read the centre's evidence keys the same whether the finding
// was just built (Go values) or came back from a store (JSON values).
func TestExemptionOf(t *testing.T) {
	at := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	want := guard.ExemptionEvidence{Resource: "/subscriptions/s/resourceGroups/rg", Reason: "licence D-1187", ApprovedBy: "officer@contoso.com", ExpiresOn: at}
	built := map[string]any{"resource": want.Resource, "reason": want.Reason, "approvedBy": want.ApprovedBy, "expiresOn": at}
	stored := map[string]any{}
	b, _ := json.Marshal(built)
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ev   map[string]any
		ok   bool
	}{
		{"built", map[string]any{guard.EvidenceExemption: built}, true},
		{"stored", map[string]any{guard.EvidenceExemption: stored}, true},
		{"missing", map[string]any{"sku": "Standard_LRS"}, false},
		{"null", map[string]any{guard.EvidenceExemption: nil}, false},
		{"not an object", map[string]any{guard.EvidenceExemption: "x"}, false},
		{"wrong types", map[string]any{guard.EvidenceExemption: map[string]any{"expiresOn": 7}}, false},
		{"nil evidence", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := guard.ExemptionOf(tc.ev, guard.EvidenceExemption)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (got.Resource != want.Resource || got.Reason != want.Reason || got.ApprovedBy != want.ApprovedBy || !got.ExpiresOn.Equal(want.ExpiresOn)) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// WithEvidence stores a typed record as the JSON values a store gives back,
// leaves the evidence it was given alone, and DecodeEvidence reads it back.
func TestWithEvidenceRoundTrip(t *testing.T) {
	type rec struct {
		PlanID string    `json:"planId"`
		Steps  []string  `json:"steps,omitempty"`
		At     time.Time `json:"at"`
	}
	in := rec{PlanID: "p1", Steps: []string{"PATCH /x"}, At: time.Date(2026, 11, 2, 10, 0, 0, 5, time.UTC)}
	ev := map[string]any{"sku": "Standard_GRS"}
	out, err := guard.WithEvidence(ev, guard.EvidenceRemediation, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev[guard.EvidenceRemediation]; ok {
		t.Fatal("WithEvidence changed the evidence it was given")
	}
	if _, ok := out[guard.EvidenceRemediation].(map[string]any); !ok {
		t.Fatalf("stored %T, want the JSON object a store gives back", out[guard.EvidenceRemediation])
	}
	got, _ := json.Marshal(out)
	if want := `{"remediation":{"at":"2026-11-02T10:00:00.000000005Z","planId":"p1","steps":["PATCH /x"]},"sku":"Standard_GRS"}`; string(got) != want {
		t.Fatalf("evidence JSON\n got %s\nwant %s", got, want)
	}
	var back rec
	if !guard.DecodeEvidence(out, guard.EvidenceRemediation, &back) || back.PlanID != in.PlanID || !back.At.Equal(in.At) || len(back.Steps) != 1 {
		t.Fatalf("read back %+v, want %+v", back, in)
	}
	if _, err := guard.WithEvidence(ev, guard.EvidenceRemediation, "not an object"); err == nil {
		t.Fatal("WithEvidence accepted a value that is not an object")
	}
}

func TestResolutionOf(t *testing.T) {
	ev := map[string]any{guard.EvidenceResolution: map[string]any{"message": "fixed", "facts": map[string]any{"sku": "Standard_LRS"}}}
	res, ok := guard.ResolutionOf(ev)
	if !ok || res.Message != "fixed" || res.Facts["sku"] != "Standard_LRS" {
		t.Fatalf("ResolutionOf = %+v, %v", res, ok)
	}
	if _, ok := guard.ResolutionOf(map[string]any{}); ok {
		t.Fatal("ResolutionOf found a resolution in empty evidence")
	}
}
