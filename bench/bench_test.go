package bench

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/exportguard/exportguard/bench/egrego"
	"github.com/exportguard/exportguard/bench/memstore"
	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/storetest"
)

// The Go benchmarks of the hot paths. Each b.N iteration handles one chunk of
// the workload (one Event Hubs batch of 100 records and the Event Grid events
// after it); records/s is reported per benchmark. The chunks are generated
// before the timer starts, cycling through a fixed set so that every run sees
// the same bytes:
//
//	cd bench && go test -run '^$' -bench . -benchmem
//	cd bench && go test -run '^$' -bench PipelineNoStore -cpuprofile cpu.out

const benchUniverse = 4000

var benchU = workload.NewUniverse(1, benchUniverse)

// benchChunks is the first n records of the seed-1 workload, in chunks.
func benchChunks(b *testing.B, n int) ([][]workload.Item, []int) {
	b.Helper()
	var chunks [][]workload.Item
	var recs []int
	_, err := Chunks(benchU.Stream(1), n, func(items []workload.Item, r int) error {
		chunks = append(chunks, slices.Clone(items))
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return chunks, recs
}

func reportRecords(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}

func BenchmarkPlainDecodeMap(b *testing.B) {
	chunks, recs := benchChunks(b, 20000)
	records := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := i % len(chunks)
		for _, it := range chunks[c] {
			for _, body := range it.Bodies {
				var v map[string]any
				if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
		records += recs[c]
	}
	reportRecords(b, records)
}

func BenchmarkDecode(b *testing.B) {
	chunks, recs := benchChunks(b, 20000)
	records := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := i % len(chunks)
		for _, it := range chunks[c] {
			dec := activitylog.Decode
			if it.Source == guard.SourceEventGrid {
				dec = eventgrid.Decode
			}
			for _, body := range it.Bodies {
				if _, err := dec(body); err != nil {
					b.Fatal(err)
				}
			}
		}
		records += recs[c]
	}
	reportRecords(b, records)
}

func benchPipeline(b *testing.B, kind StoreKind) {
	ctx := context.Background()
	chunks, recs := benchChunks(b, 20000)
	e, err := NewEnv(ctx, benchU, kind, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	records := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := i % len(chunks)
		for _, it := range chunks[c] {
			e.Clock.Set(it.Now)
			if _, err := e.Pipeline.IngestAll(ctx, it.Source, it.Bodies, it.Now); err != nil {
				b.Fatal(err)
			}
		}
		records += recs[c]
	}
	reportRecords(b, records)
}

// After the first pass over the chunks every operation is a duplicate; the
// benchmark's first 20k records are one pass at -benchtime of about 200 chunks.
func BenchmarkPipelineNoStore(b *testing.B)    { benchPipeline(b, StoreNone) }
func BenchmarkPipelineSQLiteMem(b *testing.B)  { benchPipeline(b, StoreSQLiteMem) }
func BenchmarkPipelineSQLiteFile(b *testing.B) { benchPipeline(b, StoreSQLiteFile) }

func benchHTTP(b *testing.B, kind StoreKind) {
	ctx := context.Background()
	chunks, _ := benchChunks(b, 10000)
	var reqs []HostRequest
	for _, c := range chunks {
		reqs = append(reqs, HostRequests(c)...)
	}
	e, err := NewEnv(ctx, benchU, kind, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	srv := HTTPServer(e)
	defer srv.Close()
	records := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := reqs[i%len(reqs)]
		if err := Post(ctx, e, srv, r); err != nil {
			b.Fatal(err)
		}
		records += r.Records
	}
	reportRecords(b, records)
}

func BenchmarkHandlerHTTPNoStore(b *testing.B)    { benchHTTP(b, StoreNone) }
func BenchmarkHandlerHTTPSQLiteFile(b *testing.B) { benchHTTP(b, StoreSQLiteFile) }

// judgedForBench lists the resource states the first n records lead to.
func judgedForBench(b *testing.B, n int) []judgedState {
	b.Helper()
	j := newJudgedStates(benchU)
	var out []judgedState
	_, err := Chunks(benchU.Stream(1), n, func(items []workload.Item, _ int) error {
		st, err := j.of(context.Background(), items)
		out = append(out, st...)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkRulesOnly(b *testing.B) {
	states := judgedForBench(b, 20000)
	pol := policyfile.Default()
	rs := newJudgedStates(benchU).rules
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st := states[i%len(states)]
		Judge(pol, rs, st.res, st.now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkCustomRules is the 20 custom rules of customrules.yaml alone;
// BenchmarkRulesAndCustom the built-in rules and them, as a pipeline under that
// policy judges (compare with BenchmarkRulesOnly).
func BenchmarkCustomRules(b *testing.B)    { benchCustom(b, false) }
func BenchmarkRulesAndCustom(b *testing.B) { benchCustom(b, true) }

func benchCustom(b *testing.B, builtin bool) {
	states := judgedForBench(b, 20000)
	pol, rs, err := CustomPolicy()
	if err != nil {
		b.Fatal(err)
	}
	if builtin {
		rs = append(newJudgedStates(benchU).rules, rs...)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st := states[i%len(states)]
		Judge(pol, rs, st.res, st.now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

func BenchmarkOPAParsed(b *testing.B) {
	ctx := context.Background()
	states := judgedForBench(b, 20000)
	ev, err := egrego.New(ctx, policyfile.Default())
	if err != nil {
		b.Fatal(err)
	}
	inputs := make([]ast.Value, len(states))
	for i, st := range states {
		if inputs[i], err = egrego.ParsedInput(st.res); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ev.EvalParsed(ctx, inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

func BenchmarkOPAFromJSON(b *testing.B) {
	ctx := context.Background()
	states := judgedForBench(b, 20000)
	ev, err := egrego.New(ctx, policyfile.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in, err := egrego.Input(states[i%len(states)].res)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ev.Eval(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// TestOPAAgrees checks on a workload sample that the Rego gives exportguard's
// verdicts for every judged resource.
func TestOPAAgrees(t *testing.T) {
	ctx := context.Background()
	ev, err := egrego.New(ctx, policyfile.Default())
	if err != nil {
		t.Fatal(err)
	}
	u := workload.NewUniverse(7, 1500)
	res, err := RunRulesAndOPA(ctx, u, u.Stream(7), 5000, ev, NewEngineMeters())
	if err != nil {
		t.Fatal(err)
	}
	if res.Compared < 500 || res.Violations == 0 || res.Violations == res.Verdicts {
		t.Fatalf("the sample judged %d resources with %d violations in %d verdicts: too few, or none, or all", res.Compared, res.Violations, res.Verdicts)
	}
	if res.Mismatches != 0 || res.Uncovered != 0 {
		t.Fatalf("%d mismatches, %d verdicts of rules the Rego lacks: %v", res.Mismatches, res.Uncovered, res.Examples)
	}
	// The custom rules' row times work done: every rule judging a type gave
	// a verdict on every resource of it (none failed), and together with the
	// built-in rules they gave what each gave alone.
	c := res.Custom
	if c.Rules != 20 || c.NoVerdict != 0 || c.Verdicts < res.Compared || c.Violations == 0 || c.Violations == c.Verdicts || c.TogetherDiffer != 0 {
		t.Fatalf("custom rules: %d rules, %d of %d applicable evaluations gave no verdict, %d verdicts (%d violations) on %d resources, %d resources judged otherwise together",
			c.Rules, c.NoVerdict, c.Applicable, c.Verdicts, c.Violations, res.Compared, c.TogetherDiffer)
	}
}

// TestCustomRulesJudge checks that each of the benchmark's custom rules is
// one the workload exercises: every rule but those on a type the workload
// lacks (SQL servers) judges resources in the sample, and what they find is
// neither nothing nor everything.
func TestCustomRulesJudge(t *testing.T) {
	pol, custom, err := CustomPolicy()
	if err != nil {
		t.Fatal(err)
	}
	u := workload.NewUniverse(7, 1500)
	j := newJudgedStates(u)
	var states []judgedState
	if _, err := Chunks(u.Stream(7), 3000, func(items []workload.Item, _ int) error {
		st, err := j.of(context.Background(), items)
		states = append(states, st...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := CustomResult{PerRule: map[string]int{}, Violating: map[string]int{}}
	for _, st := range states {
		countCustom(&c, pol, custom, st.res, Judge(pol, custom, st.res, st.now))
	}
	for _, r := range custom {
		id := r.ID()
		if strings.HasPrefix(id, "custom.sql-") {
			if c.PerRule[id] != 0 {
				t.Errorf("%s judged %d resources of a workload without SQL servers", id, c.PerRule[id])
			}
			continue
		}
		if c.PerRule[id] == 0 {
			t.Errorf("%s judged no resource of the sample", id)
		}
	}
	if c.NoVerdict != 0 || c.Violations == 0 || c.Violations == c.Verdicts {
		t.Errorf("%d evaluations gave no verdict; %d violations in %d verdicts", c.NoVerdict, c.Violations, c.Verdicts)
	}
}

// TestMemstoreContract runs the store contract suite on the baseline store with
// everything kept, so that the baseline behaves as a store (it is not one the
// product uses).
func TestMemstoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) guard.Store {
		s := memstore.New(0)
		s.KeepAudit, s.JSONEvidence = true, true
		return s
	})
}

// TestWorkloadDeterministic checks that a seed gives the same bytes.
func TestWorkloadDeterministic(t *testing.T) {
	a, b := workload.NewUniverse(3, 500).Stream(3), workload.NewUniverse(3, 500).Stream(3)
	for range 50 {
		x, y := a.Next(), b.Next()
		if x.Records != y.Records || len(x.Bodies) != len(y.Bodies) || !x.Now.Equal(y.Now) {
			t.Fatal("two streams of one seed differ")
		}
		for i := range x.Bodies {
			if string(x.Bodies[i]) != string(y.Bodies[i]) {
				t.Fatal("two streams of one seed differ")
			}
		}
	}
}
