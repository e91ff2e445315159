package customrule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

const sub = "/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/"

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func account(t *testing.T, name, location, props string) *guard.Resource {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"name":%q,"type":"Microsoft.Storage/storageAccounts","location":%q,"tags":{"dataClassification":"ITAR"},"properties":%s}`,
		sub+name, name, location, props)
	r, err := guard.NewResource([]byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func compileOne(t *testing.T, d guard.CustomRule, log *slog.Logger) *Rule {
	t.Helper()
	rs, err := Compile([]guard.CustomRule{d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs[0].WithLog(log)
}

// verdictsOf evaluates the rule over each resource and says, per resource,
// violation, compliant or none.
func verdictsOf(r *Rule, pol *guard.Policy, prev *guard.Resource, res ...*guard.Resource) []string {
	var out []string
	for _, x := range res {
		vs := r.Evaluate(guard.Input{Policy: pol, Resource: x, Previous: prev, Now: now})
		switch {
		case len(vs) == 0:
			out = append(out, "none")
		case vs[0].Violation:
			out = append(out, "violation")
		default:
			out = append(out, "compliant")
		}
	}
	return out
}

func TestEvaluate(t *testing.T) {
	pol := &guard.Policy{Cloud: "AzureUSGovernment", AllowedRegions: []string{"usgovvirginia"}, Roster: []string{"0a1b"}}
	public := account(t, "public", "usgovvirginia", `{"allowBlobPublicAccess":true}`)
	private := account(t, "private", "usgovvirginia", `{"allowBlobPublicAccess":false}`)
	unset := account(t, "unset", "eastus", `{}`)
	tests := []struct {
		name, src string
		prev      *guard.Resource
		res       []*guard.Resource
		want      []string
		wantLog   []string
	}{
		{"optional selection on a missing field", "resource.properties.?allowBlobPublicAccess.orValue(false) == true", nil,
			[]*guard.Resource{public, private, unset}, []string{"violation", "compliant", "compliant"}, nil},
		// The field is selected without ?: the account that lacks it gets no
		// verdict (a logged error), the others are judged.
		{"failure on one resource among good ones", "resource.properties.allowBlobPublicAccess == true", nil,
			[]*guard.Resource{public, unset, private}, []string{"violation", "none", "compliant"},
			[]string{"level=WARN", "rule=custom.a", "resourceId=" + sub + "unset", "no such key: allowBlobPublicAccess"}},
		{"wrong type at run time", "resource.properties.allowBlobPublicAccess > 1", nil,
			[]*guard.Resource{public}, []string{"none"}, []string{"resourceId=" + sub + "public", "no such overload"}},
		{"policy", "!(resource.location in policy.allowedRegions) && policy.cloud == 'AzureUSGovernment' && size(policy.roster) == 1", nil,
			[]*guard.Resource{public, unset}, []string{"compliant", "violation"}, nil},
		{"previous null", "previous == null", nil, []*guard.Resource{public}, []string{"violation"}, nil},
		{"previous", "previous.properties.allowBlobPublicAccess != resource.properties.allowBlobPublicAccess", private,
			[]*guard.Resource{public, private}, []string{"violation", "compliant"}, nil},
		{"has", "has(resource.properties.allowBlobPublicAccess)", nil,
			[]*guard.Resource{public, unset}, []string{"violation", "compliant"}, nil},
		{"now", "now == timestamp('2026-11-28T12:00:00Z')", nil, []*guard.Resource{public}, []string{"violation"}, nil},
		{"tags and strings", "resource.tags.dataClassification.lowerAscii() == 'itar' && resource.name.startsWith('pub')", nil,
			[]*guard.Resource{public, private}, []string{"violation", "compliant"}, nil},
		{"deleted", "true", nil, []*guard.Resource{{ID: sub + "gone", Type: guard.TypeStorageAccount, Deleted: true}}, []string{"none"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			r := compileOne(t, def("custom.a", tt.src, "*"), slog.New(slog.NewTextHandler(&logs, nil)))
			if got := verdictsOf(r, pol, tt.prev, tt.res...); !cmp.Equal(got, tt.want) {
				t.Errorf("verdicts = %v, want %v", got, tt.want)
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log %q\nwant it to contain %q", logs.String(), w)
				}
			}
			if tt.wantLog == nil && logs.Len() > 0 {
				t.Errorf("unexpected log: %s", logs.String())
			}
			if strings.Contains(logs.String(), "dataClassification") {
				t.Errorf("the log repeats the resource body: %s", logs.String())
			}
		})
	}
}

// A resource whose list is far longer than the estimate assumed stops at the
// run-time cost limit: logged, no verdict; a short one is judged.
func TestEvaluateCostLimit(t *testing.T) {
	long := make([]string, 400_000)
	for i := range long {
		long[i] = "10.0.0.1"
	}
	ips, _ := json.Marshal(map[string]any{"ipRules": long})
	var logs bytes.Buffer
	r := compileOne(t, def("custom.a", "resource.properties.ipRules.all(ip, ip.startsWith('10.'))"), slog.New(slog.NewTextHandler(&logs, nil)))
	got := verdictsOf(r, &guard.Policy{}, nil, account(t, "long", "eastus", string(ips)), account(t, "short", "eastus", `{"ipRules":["10.1.1.1"]}`))
	if want := []string{"none", "violation"}; !cmp.Equal(got, want) {
		t.Errorf("verdicts = %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "cost limit exceeded") || !strings.Contains(logs.String(), "resourceId="+sub+"long") {
		t.Errorf("log = %q, want the cost limit and the resource named", logs.String())
	}
}

func TestEvaluateVerdict(t *testing.T) {
	d := def("custom.storage-public-blob", "resource.properties.?allowBlobPublicAccess.orValue(false)== true")
	d.Message = "{{type}} {{name}} in {{resourceGroup}} ({{subscriptionId}}, {{location}}) allows public blob access: {{id}}"
	r := compileOne(t, d, nil)
	res := account(t, "public", "eastus", `{"allowBlobPublicAccess":true}`)
	got := r.Evaluate(guard.Input{Policy: &guard.Policy{}, Resource: res, Now: now})
	want := []guard.Verdict{{Rule: "custom.storage-public-blob", ResourceID: sub + "public", Violation: true,
		Message:  "Microsoft.Storage/storageAccounts public in rg-data (b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80, eastus) allows public blob access: " + sub + "public",
		Evidence: map[string]any{"expression": d.Violation}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdict (-want +got):\n%s", diff)
	}
	got = r.Evaluate(guard.Input{Policy: &guard.Policy{}, Resource: account(t, "private", "eastus", `{}`), Now: now})
	if len(got) != 1 || got[0].Violation || got[0].Message != "private does not violate custom.storage-public-blob." {
		t.Errorf("compliant verdict = %+v", got)
	}
}

func TestApplies(t *testing.T) {
	storage := compileOne(t, def("custom.a", "true", guard.TypeStorageAccount, guard.TypeSQLServer), nil)
	any := compileOne(t, def("custom.b", "true", "*"), nil)
	for _, tt := range []struct {
		typ       string
		one, star bool
	}{
		{"microsoft.storage/storageaccounts", true, true},
		{"Microsoft.Sql/servers", true, true},
		{"Microsoft.KeyVault/vaults", false, true},
		{"", false, false},
		{guard.TypeHeard, false, false},
		{guard.TypeSubscriptionName, false, false},
	} {
		if storage.Applies(tt.typ) != tt.one || any.Applies(tt.typ) != tt.star {
			t.Errorf("Applies(%q) = %v, %v; want %v, %v", tt.typ, storage.Applies(tt.typ), any.Applies(tt.typ), tt.one, tt.star)
		}
	}
}

// The rules of one policy share a compiled program and a body cache between
// goroutines (serve judges deliveries concurrently): each gets its own answer.
func TestConcurrentEvaluate(t *testing.T) {
	rs, err := Compile([]guard.CustomRule{
		def("custom.a", "resource.properties.?allowBlobPublicAccess.orValue(false) == true"),
		def("custom.b", "resource.name.endsWith('1')"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := []*guard.Resource{account(t, "n0", "eastus", `{"allowBlobPublicAccess":true}`), account(t, "n1", "eastus", `{}`)}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				x := res[(g+i)%2]
				a := rs[0].Evaluate(guard.Input{Policy: &guard.Policy{}, Resource: x, Now: now})
				b := rs[1].Evaluate(guard.Input{Policy: &guard.Policy{}, Resource: x, Now: now})
				wantA, wantB := x == res[0], x == res[1]
				if len(a) != 1 || len(b) != 1 || a[0].Violation != wantA || b[0].Violation != wantB || a[0].ResourceID != x.ID {
					select {
					case errs <- fmt.Sprintf("%s: %+v %+v", x.ID, a, b):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// isGuardState answers as its first form did, strings.HasPrefix(
// strings.ToLower(strings.TrimSpace(t)), "exportguard/"), without allocating
// on an ASCII type.
func TestIsGuardState(t *testing.T) {
	for _, typ := range []string{
		"exportguard/heard", "ExportGuard/SubscriptionName", " \t\nEXPORTGUARD/x", "exportguard/", "exportguard", "",
		"Microsoft.Storage/storageAccounts", "x exportguard/heard", "\u00a0exportguard/heard", "\u0085ExportGuard/x",
		"exportguard\u212a/x", "\u212axportguard/x", "exportguard/\u00e9", "EXPORTGUARD/\u212a",
	} {
		want := strings.HasPrefix(strings.ToLower(strings.TrimSpace(typ)), "exportguard/")
		if got := isGuardState(typ); got != want {
			t.Errorf("isGuardState(%q) = %t, want %t", typ, got, want)
		}
	}
}
