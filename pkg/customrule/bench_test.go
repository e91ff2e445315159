package customrule_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/customrule"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// benchPolicy is the 20 custom rules `make bench` measures (the four shipped
// examples and variants of them), from the benchmark's own file.
const benchPolicy = "../../bench/customrules.yaml"

// sessionBodies are the ARM bodies of the recorded sessions (the REST specs'
// examples and recorded estates): storage accounts, vaults, SQL servers,
// disks, VMs, networks and more.
func sessionBodies(tb testing.TB) []*guard.Resource {
	tb.Helper()
	files, err := filepath.Glob("../../testdata/sessions/*.ndjson")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sessions: %v", err)
	}
	var out []*guard.Resource
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			var line struct {
				Source string `json:"source"`
				Body   struct {
					Properties json.RawMessage `json:"properties"`
				} `json:"body"`
				Raw struct {
					Body json.RawMessage `json:"body"`
				}
			}
			// Only whole GET bodies: some sessions record a body without
			// properties, on which the shipped examples (resource.properties.?x)
			// give no verdict, as documented.
			if json.Unmarshal(sc.Bytes(), &line) != nil || json.Unmarshal(sc.Bytes(), &line.Raw) != nil ||
				line.Source != "arm" || len(line.Body.Properties) == 0 || line.Body.Properties[0] != '{' {
				continue
			}
			r, err := guard.NewResource(line.Raw.Body, time.Time{})
			if err == nil && r.Type != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) < 50 {
		tb.Fatalf("%d ARM bodies in the sessions: too few to measure", len(out))
	}
	return out
}

// BenchmarkEvaluate judges each session body with the 20 custom rules, as the
// pipeline does (every rule whose types it is, one after another): ns/op is
// the cost per judged resource.
//
//	go test ./pkg/customrule -run '^$' -bench Evaluate -benchmem
func BenchmarkEvaluate(b *testing.B) {
	pol, err := policyfile.Load(benchPolicy)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := customrule.Compile(pol.CustomRules, resourcemanager.PinnedTypes())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range rs {
		rs[i] = rs[i].WithLog(log)
	}
	if len(rs) != 20 {
		b.Fatalf("%d custom rules in %s, want 20", len(rs), benchPolicy)
	}
	res := sessionBodies(b)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	verdicts, judged := 0, 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in := guard.Input{Policy: pol, Resource: res[i%len(res)], Now: now}
		for _, r := range rs {
			if r.Applies(in.Resource.Type) {
				verdicts += len(r.Evaluate(in))
				judged++
			}
		}
	}
	if verdicts != judged {
		b.Fatalf("%d of %d evaluations gave no verdict", judged-verdicts, judged)
	}
	b.ReportMetric(float64(verdicts)/float64(b.N), "verdicts/op")
}
