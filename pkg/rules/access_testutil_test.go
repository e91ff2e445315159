package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// accessDoc reads one of the verbatim spec bodies in testdata/access as a map,
// for a test to vary.
func accessDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "access", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// accessRes turns a body into a resource observed at the given time.
func accessRes(t *testing.T, body any, at time.Time) *guard.Resource {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := guard.NewResource(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// accessObj and accessArr walk a decoded body.
func accessObj(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func accessArr(v any, keys ...string) []any {
	if len(keys) == 0 {
		a, _ := v.([]any)
		return a
	}
	m := accessObj(v, keys[:len(keys)-1]...)
	a, _ := m[keys[len(keys)-1]].([]any)
	return a
}

// accessGather gathers for a Gatherer as the pipeline does: Related, read what it
// names from world (absent is gone), and ask again, for at most
// guard.MaxGatherRounds rounds.
func accessGather(g guard.Gatherer, res *guard.Resource, world map[string]*guard.Resource) map[string]*guard.Resource {
	have := map[string]*guard.Resource{guard.IDKey(res.ID): res}
	for round := 0; round < guard.MaxGatherRounds; round++ {
		var next []string
		for _, id := range g.Related(res, have) {
			if _, ok := have[guard.IDKey(id)]; !ok {
				next = append(next, id)
			}
		}
		if len(next) == 0 {
			break
		}
		for _, id := range next {
			if r, ok := world[guard.IDKey(id)]; ok {
				have[guard.IDKey(id)] = r
			} else {
				have[guard.IDKey(id)] = &guard.Resource{ID: id, Type: guard.TypeOf(id), Deleted: true}
			}
		}
	}
	return have
}

func accessWorld(rs ...*guard.Resource) map[string]*guard.Resource {
	m := map[string]*guard.Resource{}
	for _, r := range rs {
		m[guard.IDKey(r.ID)] = r
	}
	return m
}

func accessMustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func accessTestPolicy(maxDuration, grace time.Duration, roster ...string) *guard.Policy {
	return &guard.Policy{Cloud: "AzureCloud", AllowedGeographies: []string{"United States"},
		Rules: map[string]guard.RulePolicy{
			guard.RuleJITWindow:           {Mode: guard.ModeAlert, MaxDuration: guard.Duration(maxDuration)},
			guard.RuleJITOverstay:         {Mode: guard.ModeAlert, Grace: guard.Duration(grace)},
			guard.RuleUnscreenedPrincipal: {Mode: guard.ModeAlert},
		}, Roster: roster}
}

func accessByGrant(vs []guard.Verdict) map[string]guard.Verdict {
	m := map[string]guard.Verdict{}
	for _, v := range vs {
		m[v.GrantID] = v
	}
	return m
}

func accessJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
