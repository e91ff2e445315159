package customrule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
)

// pruned is v with only what want names (nil: all of it), as decodePaths
// should build it: an object keeps the wanted keys it has, each pruned to what
// want names below it; any other value is kept whole.
func pruned(v any, want paths) any {
	m, ok := v.(map[string]any)
	if want == nil || !ok {
		return v
	}
	out := map[string]any{}
	for k, sub := range want {
		if x, ok := m[k]; ok {
			out[k] = pruned(x, sub)
		}
	}
	return out
}

// samePruned fails unless decodePaths reads b as encoding/json does, pruned
// to want, and refuses what encoding/json refuses.
func samePruned(t *testing.T, b []byte, want paths) {
	t.Helper()
	var whole any
	wholeErr := json.Unmarshal(b, &whole)
	for _, keys := range []map[string]string{nil, keyTable} {
		got, err := decodePaths(b, keys, want)
		if (err == nil) != (wholeErr == nil) {
			t.Fatalf("decodePaths(%v) error %v, encoding/json's %v, on %q", want, err, wholeErr, fastjsontest.Clip(b))
		}
		if err == nil && !reflect.DeepEqual(pruned(whole, want), got) {
			t.Fatalf("decodePaths(%v) reads %q as %#v, want %#v", want, fastjsontest.Clip(b), got, pruned(whole, want))
		}
	}
}

// pathSets are the path sets the differential tests try on each body: none,
// all, the benchmark's rules', and keys that need unescaping to match.
func pathSets(t testing.TB) []paths {
	t.Helper()
	pol, err := policyfile.Load(benchRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(pol.CustomRules, nil)
	if err != nil {
		t.Fatal(err)
	}
	return []paths{
		nil, {}, rs[0].bodies.want,
		{"properties": nil}, {"tags": nil, "location": nil},
		{"properties": {"encryption": {"keySource": nil}, "networkAcls": nil}, "id": nil},
		{"a": {"b": nil}, "a\"b": nil, "a\\": nil, "é": nil, "a\ufffd": nil, "k": nil, "\ufffd": nil},
	}
}

// benchRulesFile is the benchmark's 20 custom rules.
const benchRulesFile = "../../bench/customrules.yaml"

// parsePaths reads a fuzzer's path set: paths separated by commas, keys by
// dots; "*" is the whole body.
func parsePaths(spec string) paths {
	if spec == "*" {
		return nil
	}
	p := paths{}
	for _, path := range strings.Split(spec, ",") {
		if path != "" {
			keys := strings.Split(path, ".")
			p.add(keys[:min(len(keys), maxPathDepth)])
		}
	}
	return p
}

func TestDecodePathsMatchesPruned(t *testing.T) {
	sets := pathSets(t)
	var inputs []string
	// Each case also where a path set passes it over: as the value of a key
	// and inside an object's key.
	for _, c := range append(decodeCases, fastjsontest.DeepInputs()...) {
		inputs = append(inputs, c, `{"k":`+c+`}`, `{"z":[`+c+`],"a":1}`, `{"z":{`+c+`:1}}`)
	}
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		inputs = append(inputs, fastjsontest.Nested("[", n, "]"), strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n),
			`{"k":`+fastjsontest.Nested("[", n, "]")+`}`, `{"k":`+strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)+`}`)
	}
	for _, c := range []string{
		`{"k":"\a"}`, `{"k":"\x0041"}`, `{"k":"\U0041"}`, `{"k":"\u00zz"}`, `{"k":"\u00e"}`, `{"k":"\q"}`, `{"k":"a` + "\x1f" + `"}`, `{"k":1e400}`, `{"k":-1e400}`, `{"k":1e-400}`,
		`{"k":` + strings.Repeat("9", 310) + `}`, `{"k":` + strings.Repeat("9", 300) + `}`, `{"k":01}`, `{"k":-}`, `{"k":1.e5}`,
		`{"k":[1,]}`, `{"k":{"a":1,}}`, `{"k":{"a" 1}}`, `{"k":{1:1}}`, `{"k":tru}`, `{"k":nul}`, `{"k":fals}`, `{"k":"x"`, `{"k":[`,
		`{"k":{"\":1}}`, `{"k":"\` + `"}`, `{"k":"\u0041\u00e9\ud83d\ude00"}`, `{"a":{"b":1,"c":2},"a":{"c":3}}`, `{"a":1,"a":{"b":2}}`,
		`{"a\"b":1}`, `{"a\\":1}`, `{"\u00e9":1}`, `{"é":1}`, `{"a` + "\xff" + `":1}`, `{"` + "\xff" + `":1}`, `{"properties":[1,{"encryption":2}]}`,
		`{"properties":"x"}`, `{"tags":null}`, `{"properties":{"encryption":{"keySource":"K","x":[1,2,{"y":null}]}}}`,
	} {
		inputs = append(inputs, c, c+" ", c[:len(c)/2])
	}
	for _, b := range sessionLines(t) {
		inputs = append(inputs, string(b), string(b[:len(b)/2]))
		if body := armBody(b); body != nil {
			inputs = append(inputs, string(body), string(body[:len(body)-1]), string(body[:len(body)*2/3]))
		}
	}
	for _, in := range inputs {
		for _, want := range sets {
			samePruned(t, []byte(in), want)
		}
	}
}

// FuzzDecodePathsMatchesPruned holds decodePaths to encoding/json pruned, on
// any input and path set.
func FuzzDecodePathsMatchesPruned(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c), "a,k")
	}
	for _, b := range fastjsontest.SeedTestdata(f) {
		f.Add(b, "properties.encryption.keySource,tags,location")
	}
	for i, b := range sessionLines(f) {
		if body := armBody(b); body != nil && i%8 == 0 {
			f.Add(body, "properties,id")
			f.Add(body[:len(body)/2], "properties.networkAcls,tags.owner")
		}
	}
	f.Add([]byte(`{"a":{"b":[1,{"c":"\u00e9"}]},"a":{"b":2,"d":1e400}}`), "a.b")
	sets := pathSets(f)
	f.Fuzz(func(t *testing.T, b []byte, spec string) {
		samePruned(t, b, parsePaths(spec))
		for _, want := range sets {
			samePruned(t, b, want)
		}
	})
}

// sessionLines are the lines of every recorded session.
func sessionLines(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../../testdata/sessions/*.ndjson")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sessions: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				out = append(out, bytes.Clone(sc.Bytes()))
			}
		}
	}
	return out
}

// armBody is the ARM body a session line records, or nil.
func armBody(line []byte) []byte {
	var l struct {
		Source string          `json:"source"`
		Body   json.RawMessage `json:"body"`
	}
	if json.Unmarshal(line, &l) != nil || l.Source != "arm" || len(l.Body) == 0 {
		return nil
	}
	return l.Body
}

// TestPruningKeepsVerdicts: every custom rule of the benchmark's policy and
// of the four shipped examples, and a few that read previous or the body in
// other ways, gives the same verdicts (message, evidence and all) and logs
// the same with the bodies read pruned as read whole, over every ARM body of
// the recorded sessions, each judged with and without a previous state.
func TestPruningKeepsVerdicts(t *testing.T) {
	var sets [][]guard.CustomRule
	files, _ := filepath.Glob("../../testdata/sessions/custom-*.policy.yaml")
	if len(files) != 4 {
		t.Fatalf("%d shipped examples, want 4", len(files))
	}
	for _, f := range append(files, benchRulesFile) {
		pol, err := policyfile.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, pol.CustomRules)
	}
	var mixed []guard.CustomRule
	for i, src := range []string{
		"previous.?properties.?allowBlobPublicAccess.orValue(false) != resource.properties.?allowBlobPublicAccess.orValue(false)",
		"previous.?properties.?provisioningState.orValue('') == 'Succeeded'",
		"has(resource.properties.encryption) && resource.properties.encryption.keySource == 'Microsoft.Storage'",
		"resource['tags'][?'dataClassification'].orValue('') == 'ITAR' || resource.location.startsWith('usgov')",
		"resource.properties.networkAcls.defaultAction == 'Allow'", // an error where a body lacks it: no verdict, logged
		"['owner', 'dataClassification'].all(k, k in resource.?tags.orValue({}))",
		"size(resource.properties.?ipConfigurations.orValue([])) > 1 || resource.name.endsWith('1')",
	} {
		d := def("custom.m", src, "*")
		d.ID, d.Index = d.ID+string(rune('a'+i)), i
		mixed = append(mixed, d)
	}
	sets = append(sets, mixed)

	var bodies []*guard.Resource
	for _, l := range sessionLines(t) {
		if b := armBody(l); b != nil {
			if r, err := guard.NewResource(b, now); err == nil {
				bodies = append(bodies, r)
			}
		}
	}
	if len(bodies) < 200 {
		t.Fatalf("%d ARM bodies in the sessions: too few", len(bodies))
	}
	pol := &guard.Policy{Cloud: "AzureUSGovernment", AllowedRegions: []string{"usgovvirginia"}}
	judged, violations := 0, 0
	for si, defs := range sets {
		var logs [2]bytes.Buffer
		var rules [2][]*Rule
		for i, prune := range []bool{true, false} {
			rs, err := compile(defs, nil, prune)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				rules[i] = append(rules[i], r.WithLog(newTextLogger(&logs[i])))
			}
		}
		if rules[0][0].bodies.want == nil {
			t.Fatalf("rule set %d reads whole bodies: nothing pruned to compare", si)
		}
		for bi, res := range bodies {
			for _, prev := range []*guard.Resource{nil, bodies[(bi+1)%len(bodies)]} {
				in := guard.Input{Policy: pol, Resource: res, Previous: prev, Now: now.Add(time.Duration(bi) * time.Hour)}
				for ri := range rules[0] {
					if !rules[0][ri].Applies(res.Type) {
						continue
					}
					got, want := rules[0][ri].Evaluate(in), rules[1][ri].Evaluate(in)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("%s on %s: pruned verdicts differ (-whole +pruned):\n%s", defs[ri].ID, res.ID, diff)
					}
					judged++
					if len(got) == 1 && got[0].Violation {
						violations++
					}
				}
			}
		}
		if si == len(sets)-1 && logs[0].Len() == 0 {
			t.Error("the rules that fail on some bodies logged nothing: the logs compare nothing")
		}
		if logs[0].String() != logs[1].String() {
			t.Errorf("rule set %d logs differently pruned:\n%s\nwhole:\n%s", si, logs[0].String(), logs[1].String())
		}
	}
	if violations == 0 || violations == judged {
		t.Fatalf("%d violations of %d verdicts: the comparison cannot tell pruned from whole", violations, judged)
	}
	t.Logf("%d evaluations, %d violations, the same pruned and whole", judged, violations)
}

// newTextLogger logs as text without the time, so that two logs compare.
func newTextLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}))
}
