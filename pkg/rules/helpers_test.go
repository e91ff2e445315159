package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Policies the tests judge with.
var (
	polUS     = &guard.Policy{Cloud: "AzureCloud", AllowedGeographies: []string{"United States"}}
	polGov    = &guard.Policy{Cloud: "AzureUSGovernment", AllowedGeographies: []string{"US Government"}}
	polGovVA  = &guard.Policy{Cloud: "AzureUSGovernment", AllowedRegions: []string{"usgovvirginia"}}
	polJapan  = &guard.Policy{AllowedGeographies: []string{"Japan"}}
	testNow   = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	noEdit    = func(map[string]any) {}
	dropField = struct{}{} // set(m, path, dropField) deletes the field
)

// fixture reads a testdata body and applies edit to a copy.
func fixture(t *testing.T, file string, edit func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// set writes value at a dotted path ("properties.encryption.keySource"),
// creating objects on the way; dropField deletes the field.
func set(m map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if value == dropField {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = value
}

// resource makes a guard.Resource of a body as the pipeline would.
func resource(t *testing.T, body []byte) *guard.Resource {
	t.Helper()
	r, err := guard.NewResource(body, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// judge runs a rule over a body and checks what every verdict must have.
func judge(t *testing.T, r guard.Rule, pol *guard.Policy, body []byte) []guard.Verdict {
	t.Helper()
	return judgeIn(t, r, guard.Input{Policy: pol, Resource: resource(t, body), Now: testNow})
}

func judgeIn(t *testing.T, r guard.Rule, in guard.Input) []guard.Verdict {
	t.Helper()
	if !r.Applies(in.Resource.Type) {
		t.Fatalf("%T does not apply to %q", r, in.Resource.Type)
	}
	vs := r.Evaluate(in)
	for _, v := range vs {
		checkVerdict(t, r, v)
	}
	return vs
}

// checkVerdict: a verdict names its rule and resource, says one sentence, and a
// violation names the fix.
func checkVerdict(t *testing.T, r guard.Rule, v guard.Verdict) {
	t.Helper()
	if v.Rule != r.ID() || v.ResourceID == "" || v.Evidence == nil {
		t.Errorf("verdict %+v: want rule %s, a resource and evidence", v, r.ID())
	}
	if !strings.HasSuffix(v.Message, ".") || strings.Contains(v.Message, ". ") {
		t.Errorf("message %q is not one sentence", v.Message)
	}
	if v.Violation != (v.Action != "") {
		t.Errorf("verdict violation=%v with action %q: a violation names its fix, a compliant verdict none", v.Violation, v.Action)
	}
	if _, err := json.Marshal(v.Evidence); err != nil {
		t.Errorf("evidence does not marshal: %v", err)
	}
}

// one asserts a single verdict.
func one(t *testing.T, vs []guard.Verdict) guard.Verdict {
	t.Helper()
	if len(vs) != 1 {
		t.Fatalf("got %d verdicts, want 1: %+v", len(vs), vs)
	}
	return vs[0]
}
