// Command egbench is the driver `make bench` runs: it generates Activity Log and
// Event Grid workloads, measures exportguard's pipeline on them (without a
// store, on the embedded SQLite store, through the HTTP custom handler), the
// same rules in Rego under Open Policy Agent, a plain encoding/json decode of
// the same bytes, and the handler's cold start, then prints a table and writes
// it as JSON (results.json).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exportguard/exportguard/bench"
	"github.com/exportguard/exportguard/bench/memstore"
	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/guard"
)

type config struct {
	seed          uint64
	universe      int
	sizes         []int
	storeRecords  int
	httpRecords   int
	opaRecords    int
	coldStartRuns int
	out           string
	skipCold      bool
	skipCosmos    bool
	scanResources int
	onlyRules     bool
	cosmos        bench.CosmosConfig
	// issue 16 (issue16.go)
	replayShort, replayLong, armChanges int
}

func main() {
	var c config
	var sizes string
	var quick bool
	var cpuProfile string
	var only string
	flag.Uint64Var(&c.seed, "seed", 1, "workload seed")
	flag.IntVar(&c.universe, "universe", 4000, "resources in the generated estate")
	flag.StringVar(&sizes, "sizes", "10000,100000,1000000", "record counts for the pipeline without a store (memory must stay flat across them); the largest is also the plain-decode size")
	flag.IntVar(&c.storeRecords, "store-records", 20000, "records through the pipeline on the embedded store")
	flag.IntVar(&c.httpRecords, "http-records", 20000, "records through the HTTP handler (each store)")
	flag.IntVar(&c.opaRecords, "opa-records", 50000, "records whose judged resources exportguard's rules and OPA evaluate")
	flag.IntVar(&c.coldStartRuns, "coldstart-runs", 10, "cold starts of exportguard serve")
	flag.StringVar(&c.out, "o", "results.json", "where to write the results as JSON (and, beside it, the README's short table as .md)")
	flag.BoolVar(&c.skipCold, "skip-coldstart", false, "do not build and start the binary")
	flag.BoolVar(&c.skipCosmos, "skip-cosmos", false, "do not start the local Cosmos DB server (node) and measure pkg/cosmos")
	flag.IntVar(&c.cosmos.Accounts, "cosmos-accounts", 200, "storage accounts in the Cosmos DB session whose requests are counted")
	flag.IntVar(&c.cosmos.PerPipeline, "cosmos-per-pipeline", 100, "storage accounts of each pipeline in the runs at once on Cosmos DB")
	flag.IntVar(&c.cosmos.Rounds, "cosmos-rounds", 10, "write operations of each of those accounts")
	flag.IntVar(&c.scanResources, "scan-resources", 10000, "storage accounts in 3 subscriptions for the scan row (exportguard scan against a local Resource Graph and ARM)")
	flag.IntVar(&c.replayShort, "replay-short", 30, "copies of the day-shifted session in the shorter replay")
	flag.IntVar(&c.replayLong, "replay-long", 300, "copies of the day-shifted session in the longer replay")
	flag.IntVar(&c.armChanges, "arm-changes", 2000, "changes in one subscription against the throttling ARM (at ARM's pace: about 20 a second)")
	flag.BoolVar(&quick, "quick", false, "small sizes, for a smoke run (seconds)")
	flag.StringVar(&only, "only", "", "run only these rows, for development: \"rules\" (built-in rules, custom rules and OPA on the judged resources); the output is partial")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("-sizes: %q is not a positive count", s))
		}
		c.sizes = append(c.sizes, n)
	}
	slices.Sort(c.sizes)
	switch only {
	case "":
	case "rules":
		c.onlyRules = true
	default:
		fatal(fmt.Errorf("-only: %q is not a set of rows (rules)", only))
	}
	c.cosmos.Pipelines = []int{1, 4, 8}
	if quick {
		c.sizes, c.storeRecords, c.httpRecords, c.opaRecords, c.coldStartRuns = []int{2000, 5000, 10000}, 3000, 3000, 3000, 2
		c.cosmos.Accounts, c.cosmos.PerPipeline, c.cosmos.Rounds = 40, 20, 2
		c.replayLong, c.armChanges = 100, 300
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), c); err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "egbench:", err)
	os.Exit(1)
}

// Row is one line of the table.
type Row struct {
	Name         string  `json:"name"`
	Store        string  `json:"store"`
	Records      int     `json:"records"`
	Seconds      float64 `json:"seconds"`        // wall time in measured sections
	CPUSeconds   float64 `json:"cpuSeconds"`     // process CPU time in them
	PerSec       float64 `json:"recordsPerSec"`  // records / wall second
	PerCore      float64 `json:"recordsPerCore"` // records / CPU second
	CPUNsPerRec  float64 `json:"cpuNsPerRecord"`
	AllocsPerRec float64 `json:"allocsPerRecord"`
	BytesPerRec  float64 `json:"bytesPerRecord"`
	PeakHeapMB   float64 `json:"peakHeapMB,omitempty"`
	P50ms        float64 `json:"p50ms,omitempty"`
	P99ms        float64 `json:"p99ms,omitempty"`
	P999ms       float64 `json:"p999ms,omitempty"`
	Batches      int     `json:"batches,omitempty"`
	Note         string  `json:"note,omitempty"`
	// Rows that judge resources (rules, custom rules, OPA): what they cost
	// per judged resource.
	Resources         int     `json:"judgedResources,omitempty"`
	CPUNsPerResource  float64 `json:"cpuNsPerResource,omitempty"`
	AllocsPerResource float64 `json:"allocsPerResource,omitempty"`
}

// Target is one goal of the issue, met or not.
type Target struct {
	Goal     string  `json:"goal"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Met      bool    `json:"met"`
}

// Results is results.json.
type Results struct {
	Command    string               `json:"command"`
	Started    time.Time            `json:"started"`
	Seconds    float64              `json:"seconds"`
	Machine    map[string]any       `json:"machine"`
	Workload   map[string]any       `json:"workload"`
	Rows       []Row                `json:"rows"`
	Memory     map[string]any       `json:"memory"`
	Ratios     map[string]float64   `json:"ratios"`
	OPA        bench.EngineResult   `json:"opaCheck"`
	Cosmos     *bench.CosmosResults `json:"cosmos,omitempty"`
	ColdStart  map[string]any       `json:"coldStart,omitempty"`
	Targets    []Target             `json:"targets"`
	Findings   map[string]any       `json:"findingsAgree"`
	Definition map[string]string    `json:"definitions"`
}

func row(name, store string, m *bench.Meter, note string) Row {
	r := Row{Name: name, Store: store, Records: m.Records, Seconds: m.Wall.Seconds(), CPUSeconds: m.CPU.Seconds(),
		PerSec: m.PerSec(), PerCore: m.PerCore(), Note: note}
	if m.Records > 0 {
		r.CPUNsPerRec = float64(m.CPU.Nanoseconds()) / float64(m.Records)
		r.AllocsPerRec = float64(m.Allocs) / float64(m.Records)
		r.BytesPerRec = float64(m.Bytes) / float64(m.Records)
	}
	return r
}

func withLatency(r Row, lat *bench.Meter) Row {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.P50ms, r.P99ms, r.P999ms, r.Batches = ms(lat.Percentile(50)), ms(lat.Percentile(99)), ms(lat.Percentile(99.9)), len(lat.Lat)
	return r
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, c config) error {
	began := time.Now()
	res := Results{Command: "make bench (cd bench && go run ./cmd/egbench " + strings.Join(os.Args[1:], " ") + ")",
		Started: began.UTC(), Machine: machine(), Memory: map[string]any{}, Ratios: map[string]float64{},
		Definition: map[string]string{
			"records":        "Activity Log records (in Event Hubs message bodies, 100 per host batch) plus Event Grid events",
			"recordsPerSec":  "records per second of wall time spent in the measured sections (workload generation excluded)",
			"recordsPerCore": "records per CPU-second of the whole process in those sections (all threads, garbage collection included): throughput per core",
			"peakHeapMB":     "largest heap in use (live and unswept objects, runtime/metrics, sampled every 2 ms) during the run, after a full collection before it; includes the generated estate's ARM bodies",
			"latency":        "per Event Hubs batch of 100 records: in process, first Ingest to last return; over HTTP, request sent to 200 read (the handler answers after every finding is stored)",
			"none":           "bench/memstore: a map-based guard.Store written for this benchmark as a baseline, not a product store",
		}}
	tmp, err := os.MkdirTemp("", "egbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	u := workload.NewUniverse(c.seed, c.universe)
	res.Workload = map[string]any{"seed": c.seed, "resources": len(u.Resources), "armBodyBytes": u.ARMBytes(),
		"mix": workload.Mix, "batchRecords": workload.BatchRecords, "liveHeapWithEstateMB": mb(bench.LiveHeap())}
	progress("estate: %d resources, %.1f MB of ARM bodies", len(u.Resources), float64(u.ARMBytes())/(1<<20))

	if c.onlyRules { // -only rules: section 5 alone, printed, not written
		eng, em, err := engines(ctx, c, u, &res)
		if err != nil {
			return err
		}
		res.Targets = customTargets(eng, em)
		res.Seconds = time.Since(began).Seconds()
		res.Machine["loadAvgEnd"] = loadavg()
		printTable(os.Stdout, &res)
		fmt.Println("\n-only: a partial run; nothing written")
		return nil
	}

	largest := c.sizes[len(c.sizes)-1]

	// 1. The floor: encoding/json on the same bytes.
	progress("plain decode, %d records", largest)
	gen, minimal := bench.NewMeter(false), bench.NewMeter(false)
	hp := bench.BeginHeapPeak()
	if _, err := bench.PlainDecode(u.Stream(c.seed), largest, gen, minimal); err != nil {
		return err
	}
	peak := hp.End()
	decodeRow := row("plain decode: encoding/json into map[string]any", "-", gen, "the floor: same message bytes, no normalising")
	decodeRow.PeakHeapMB = mb(peak)
	minimalRow := row("plain decode: encoding/json into a minimal struct", "-", minimal, "5 fields per record")
	res.Rows = append(res.Rows, decodeRow, minimalRow)

	// 2. The pipeline without a store, at every size: throughput and memory.
	peaks, lives := map[string]float64{}, map[string]float64{}
	var noStoreAt = map[int]Row{}
	var noStoreCounts map[string]int
	var workloadSum guard.Summary
	for _, n := range c.sizes {
		progress("pipeline, no store, %d records", n)
		e, err := bench.NewEnv(ctx, u, bench.StoreNone, tmp)
		if err != nil {
			return err
		}
		m, lat := bench.NewMeter(false), bench.NewMeter(true)
		hp := bench.BeginHeapPeak()
		sum, _, err := bench.RunPipeline(ctx, e, u.Stream(c.seed), n, m, lat)
		if err != nil {
			return err
		}
		peak := hp.End()
		r := withLatency(row("pipeline in process (decode, normalise, dedup, rules, findings, audit)", "none", m, ""), lat)
		r.PeakHeapMB = mb(peak)
		ms := e.Store.(*memstore.Store)
		live := mb(bench.LiveHeap())
		nres, nfind := ms.Sizes()
		r.Note = fmt.Sprintf("live heap after the run %.1f MB: the estate and its ARM bodies, %d resource states, %d findings, %d ledger keys (window %d..%d)",
			live, nres, nfind, ms.LedgerSize(), bench.LedgerWindow, 2*bench.LedgerWindow)
		peaks[strconv.Itoa(n)] = r.PeakHeapMB
		lives[strconv.Itoa(n)] = live
		noStoreAt[n] = r
		res.Rows = append(res.Rows, r)
		if n == c.storeRecords {
			noStoreCounts = e.Store.(*memstore.Store).Counts()
		}
		if n == largest {
			workloadSum = sum
			res.Workload["auditRecords"] = e.Store.(*memstore.Store).AuditCount()
		}
		e.Close()
	}
	if noStoreCounts == nil { // the store run's size is not among -sizes: run it for the comparison
		e, err := bench.NewEnv(ctx, u, bench.StoreNone, tmp)
		if err != nil {
			return err
		}
		if _, _, err := bench.RunPipeline(ctx, e, u.Stream(c.seed), c.storeRecords, bench.NewMeter(false), nil); err != nil {
			return err
		}
		noStoreCounts = e.Store.(*memstore.Store).Counts()
		e.Close()
	}
	res.Workload["summary"] = workloadSum
	res.Workload["summaryRecords"] = largest
	smallest := c.sizes[0]
	second := c.sizes[max(0, len(c.sizes)-2)]
	res.Memory["peakHeapMB"] = peaks
	res.Memory["liveHeapAfterMB"] = lives
	res.Memory["ratioLargestToSmallest"] = peaks[strconv.Itoa(largest)] / peaks[strconv.Itoa(smallest)]
	res.Memory["ratioLargestToSecond"] = peaks[strconv.Itoa(largest)] / peaks[strconv.Itoa(second)]
	res.Memory["note"] = "pipeline without a store. Input is generated and handled one batch at a time. What grows until it is full is state bounded by the estate and the dedup window: resource states and findings (4000 resources) and the baseline store's ledger window; the first run is too short to fill it, so flatness is judged from the second size to the largest (10x the records)"

	// 3. The pipeline on the embedded store.
	var sqliteCounts map[string]int
	for _, kind := range []bench.StoreKind{bench.StoreSQLiteFile, bench.StoreSQLiteMem} {
		progress("pipeline, %s, %d records", kind, c.storeRecords)
		e, err := bench.NewEnv(ctx, u, kind, tmp)
		if err != nil {
			return err
		}
		m, lat := bench.NewMeter(false), bench.NewMeter(true)
		hp := bench.BeginHeapPeak()
		if _, _, err := bench.RunPipeline(ctx, e, u.Stream(c.seed), c.storeRecords, m, lat); err != nil {
			return err
		}
		peak := hp.End()
		note := "file in " + os.TempDir() + " (WAL), as serve runs it"
		if kind == bench.StoreSQLiteMem {
			note = "sqlite.Memory"
		}
		note += fmt.Sprintf("; %.2f writes and %.2f reads per record, in %.1f records per transaction (one per delivery; %.2f Batch calls per record, a savepoint per change the store sees); database pages live outside the Go heap",
			float64(e.Counts.Writes.Load())/float64(m.Records), float64(e.Counts.Reads.Load())/float64(m.Records),
			float64(m.Records)/float64(max(1, e.Counts.Transactions.Load())), float64(e.Counts.Batches.Load())/float64(m.Records))
		r := withLatency(row("pipeline in process (decode, normalise, dedup, rules, findings, audit)", string(kind), m, note), lat)
		r.PeakHeapMB = mb(peak)
		res.Rows = append(res.Rows, r)
		if kind == bench.StoreSQLiteFile {
			fs, err := e.Store.ListFindings(ctx, guard.FindingFilter{})
			if err != nil {
				return err
			}
			sqliteCounts = map[string]int{}
			for _, f := range fs {
				sqliteCounts[f.Rule+" "+strings.ToLower(string(f.Status))]++
			}
			if st, err := os.Stat(filepath.Join(tmp, "bench.db")); err == nil {
				res.Workload["sqliteFileBytes"] = st.Size()
			}
		}
		e.Close()
		os.Remove(filepath.Join(tmp, "bench.db"))
		os.Remove(filepath.Join(tmp, "bench.db-wal"))
		os.Remove(filepath.Join(tmp, "bench.db-shm"))
	}
	res.Findings = map[string]any{"records": c.storeRecords, "none": noStoreCounts, "sqliteFile": sqliteCounts,
		"agree": fmt.Sprint(noStoreCounts) == fmt.Sprint(sqliteCounts)}

	// 4. The handler over HTTP.
	var httpSQLite Row
	for _, kind := range []bench.StoreKind{bench.StoreNone, bench.StoreSQLiteFile} {
		progress("HTTP handler, %s, %d records", kind, c.httpRecords)
		e, err := bench.NewEnv(ctx, u, kind, tmp)
		if err != nil {
			return err
		}
		srv := bench.HTTPServer(e)
		m, lat := bench.NewMeter(false), bench.NewMeter(true)
		hp := bench.BeginHeapPeak()
		if _, err := bench.RunHTTP(ctx, e, srv, u.Stream(c.seed), c.httpRecords, m, lat); err != nil {
			return err
		}
		peak := hp.End()
		srv.Close()
		r := withLatency(row("handler end to end over loopback HTTP (host-shaped batches)", string(kind), m,
			"client in the same process; CPU includes building nothing but the request"), lat)
		r.PeakHeapMB = mb(peak)
		res.Rows = append(res.Rows, r)
		if kind == bench.StoreSQLiteFile {
			httpSQLite = r
		}
		e.Close()
		os.Remove(filepath.Join(tmp, "bench.db"))
		os.Remove(filepath.Join(tmp, "bench.db-wal"))
		os.Remove(filepath.Join(tmp, "bench.db-shm"))
	}

	// 4b. Cosmos DB, on the local server: requests per change, and pipelines at once.
	if !c.skipCosmos {
		if res.Cosmos, err = bench.RunCosmos(ctx, u, c.cosmos, progress); err != nil {
			return fmt.Errorf("cosmos: %w", err)
		}
	}

	// 5. The same rules, exportguard's and OPA's, and the custom rules, on the same judged resources (engines.go).
	eng, em, err := engines(ctx, c, u, &res)
	if err != nil {
		return err
	}
	rulesM, opaJSON, opaParsed := em.Rules, em.OPAJSON, em.OPAParsed

	// 6. Cold start.
	if !c.skipCold && c.coldStartRuns > 0 {
		progress("cold start: building exportguard")
		bin, err := bench.BuildBinary(ctx, tmp)
		if err != nil {
			return err
		}
		var runs []time.Duration
		for i := range c.coldStartRuns {
			d, err := bench.ColdStart(ctx, bin, tmp, i)
			if err != nil {
				return err
			}
			runs = append(runs, d)
		}
		progress("cold start: %d runs", len(runs))
		sorted := slices.Clone(runs)
		slices.Sort(sorted)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		var all []float64
		for _, d := range runs {
			all = append(all, ms(d))
		}
		res.ColdStart = map[string]any{"runs": len(runs), "medianMs": ms(sorted[len(sorted)/2]), "minMs": ms(sorted[0]),
			"maxMs": ms(sorted[len(sorted)-1]), "allMs": all,
			"what": "exportguard serve --port P with EXPORTGUARD_STORE=sqlite:<new file>: process start to the first 200 on GET / (polled every 1 ms)"}
	}

	// 7. Issue 16: replay, sweep, ARM read budget.
	i16rows, i16targets, err := issue16(ctx, c)
	if err != nil {
		return err
	}
	res.Rows = append(res.Rows, i16rows...)

	// 8. A scan of the estate through Resource Graph (issue 16).
	progress("scan: %d resources in 3 subscriptions", c.scanResources)
	sr, err := bench.RunScan(ctx, tmp, c.scanResources, 3, bench.Logger())
	if err != nil {
		return err
	}
	scanNote := fmt.Sprintf("Resource Graph requests %d (%d to Resources, the rest to AuthorizationResources: role assignments); ARM reads %d (%d diagnostic settings, %d confirmations)",
		sr.GraphRequests, sr.ResourcesQueries, sr.ARMReads, sr.SettingsReads, sr.ARMReads-sr.SettingsReads)
	res.Rows = append(res.Rows, Row{Name: fmt.Sprintf("scan of %s resources in %d subscriptions (pkg/scan, local Resource Graph and ARM over HTTPS)", human(sr.Resources), sr.Subscriptions),
		Store: string(bench.StoreSQLiteFile), Records: sr.Judged, Seconds: sr.Wall.Seconds(), PerSec: float64(sr.Judged) / nonzero(sr.Wall.Seconds()), Note: scanNote})
	progress("scan: %d judged in %s; %s", sr.Judged, sr.Wall.Round(time.Millisecond), scanNote)

	// Ratios and targets.
	nearest := c.sizes[0] // the pipeline run nearest in size to the OPA run
	for _, n := range c.sizes {
		if abs(n-c.opaRecords) < abs(nearest-c.opaRecords) {
			nearest = n
		}
	}
	opaSize := noStoreAt[nearest]
	pipeLargest := noStoreAt[largest]
	res.Ratios["pipelineNoStore/opaParsed"] = opaSize.PerCore / nonzero(opaParsed.PerCore())
	res.Ratios["pipelineNoStore/opaFromJSON"] = opaSize.PerCore / nonzero(opaJSON.PerCore())
	res.Ratios["rulesOnly/opaFromJSON"] = rulesM.PerCore() / nonzero(opaJSON.PerCore())
	res.Ratios["rulesOnly/opaParsed"] = rulesM.PerCore() / nonzero(opaParsed.PerCore())
	res.Ratios["plainDecodeMap/pipelineNoStore"] = decodeRow.PerCore / nonzero(pipeLargest.PerCore)
	res.Ratios["plainDecodeStruct/pipelineNoStore"] = minimalRow.PerCore / nonzero(pipeLargest.PerCore)
	var sqliteFile Row
	for _, r := range res.Rows {
		if r.Store == string(bench.StoreSQLiteFile) && strings.HasPrefix(r.Name, "pipeline") {
			sqliteFile = r
		}
	}
	memRatio := res.Memory["ratioLargestToSecond"].(float64)
	res.Targets = []Target{
		{Goal: "pipeline without a store >= 10x OPA on the same rules (per core)",
			Measured: fmt.Sprintf("%.1fx OPA with pre-parsed input; %.1fx OPA from JSON. Bounded by decoding: the plain decode alone is %.1fx OPA from JSON, and the pipeline must decode what OPA is handed normalised",
				res.Ratios["pipelineNoStore/opaParsed"], res.Ratios["pipelineNoStore/opaFromJSON"], decodeRow.PerCore/nonzero(opaJSON.PerCore())),
			Value: res.Ratios["pipelineNoStore/opaParsed"], Met: res.Ratios["pipelineNoStore/opaParsed"] >= 10},
		{Goal: "the rules >= 10x OPA on the same normalised input (per core; the like-for-like part of the goal above)",
			Measured: fmt.Sprintf("%.1fx OPA with pre-parsed input; %.1fx OPA from JSON", res.Ratios["rulesOnly/opaParsed"], res.Ratios["rulesOnly/opaFromJSON"]),
			Value:    res.Ratios["rulesOnly/opaParsed"], Met: res.Ratios["rulesOnly/opaParsed"] >= 10},
		{Goal: "pipeline without a store within 3x of the plain decode (per core)",
			Measured: fmt.Sprintf("plain decode (map[string]any) is %.2fx the pipeline; a minimal struct decode %.2fx", res.Ratios["plainDecodeMap/pipelineNoStore"], res.Ratios["plainDecodeStruct/pipelineNoStore"]),
			Value:    res.Ratios["plainDecodeMap/pipelineNoStore"], Met: res.Ratios["plainDecodeMap/pipelineNoStore"] <= 3},
		{Goal: "embedded store >= 20,000 records/s per core on a file",
			Measured: fmt.Sprintf("%.0f records/s per core (sqlite file, in process; %.0f per second of wall time), %.0f per core over HTTP (%.0f per second)",
				sqliteFile.PerCore, sqliteFile.PerSec, httpSQLite.PerCore, httpSQLite.PerSec),
			Value: sqliteFile.PerCore, Met: sqliteFile.PerCore >= 20000},
		{Goal: "p99 < 5 ms per batch of 100 records (HTTP, embedded store)",
			Measured: fmt.Sprintf("p99 %.2f ms (p50 %.2f, p99.9 %.2f)", httpSQLite.P99ms, httpSQLite.P50ms, httpSQLite.P999ms),
			Value:    httpSQLite.P99ms, Met: httpSQLite.P99ms > 0 && httpSQLite.P99ms < 5},
		{Goal: "memory flat as the workload grows (peak heap, 10x the records <= 1.25x the memory)",
			Measured: fmt.Sprintf("%.2fx from %s to %s records (%.1f, %.1f, %.1f MB at %s, %s, %s: the first run is too short to fill the bounded state)",
				memRatio, human(second), human(largest), peaks[strconv.Itoa(smallest)], peaks[strconv.Itoa(second)], peaks[strconv.Itoa(largest)],
				human(smallest), human(second), human(largest)),
			Value: memRatio, Met: memRatio <= 1.25},
		{Goal: "OPA and exportguard agree on every judged resource",
			Measured: fmt.Sprintf("%d mismatches in %d resources", eng.Mismatches, eng.Compared), Value: float64(eng.Mismatches), Met: eng.Mismatches == 0 && eng.Uncovered == 0},
	}
	res.Targets = append(res.Targets, customTargets(eng, em)...)
	pages := (sr.Resources + sr.Subscriptions + 999) / 1000 // rows and the subscriptions' own rows, 1,000 a page
	res.Targets = append(res.Targets, Target{
		Goal:     fmt.Sprintf("scan of %s resources in 3 subscriptions: every one judged, at most %d Resource Graph requests to Resources, no ARM reads but confirmations", human(sr.Resources), pages),
		Measured: fmt.Sprintf("%d judged; %s; %s wall (not a target)", sr.Judged, scanNote, sr.Wall.Round(time.Millisecond)),
		Value:    float64(sr.ResourcesQueries),
		Met:      sr.Judged == sr.Resources && sr.ResourcesQueries <= pages && sr.ARMReads == sr.SettingsReads})
	if res.Cosmos != nil {
		res.Targets = append(res.Targets, cosmosTargets(res.Cosmos)...)
	}
	res.Targets = append(res.Targets, i16targets...)
	res.Seconds = time.Since(began).Seconds()
	res.Machine["loadAvgEnd"] = loadavg()

	printTable(os.Stdout, &res)
	raw, err := json.MarshalIndent(&res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.out, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	md := strings.TrimSuffix(c.out, filepath.Ext(c.out)) + ".md"
	if err := os.WriteFile(md, []byte(markdown(&res)), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwritten to %s and %s\n", c.out, md)
	return nil
}

// markdown is the short table the README's Performance section shows.
func markdown(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s: %v × %v, %v, %v; load average %v at the start, %v at the end; %.0f s.\n\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Machine["nproc"], r.Machine["cpu"], r.Machine["memTotal"], r.Machine["go"],
		r.Machine["loadAvgStart"], r.Machine["loadAvgEnd"], r.Seconds)
	b.WriteString("| path | store | records | records/s | records/s per core | allocs/record | peak heap MB | per batch of 100: p50 / p99 / p99.9 ms |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, x := range r.Rows {
		lat := ""
		if x.P50ms > 0 {
			lat = fmt.Sprintf("%.1f / %.1f / %.1f", x.P50ms, x.P99ms, x.P999ms)
		}
		heap := ""
		if x.PeakHeapMB > 0 {
			heap = fmt.Sprintf("%.0f", x.PeakHeapMB)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.0f | %.0f | %s | %s |\n", short(x.Name), x.Store, human(x.Records), x.PerSec, x.PerCore, x.AllocsPerRec, heap, lat)
	}
	markdownPerResource(&b, r)
	if r.Cosmos != nil {
		markdownCosmos(&b, r.Cosmos)
	}
	b.WriteString("\n| target | measured | |\n| --- | --- | --- |\n")
	for _, t := range r.Targets {
		met := "met"
		if !t.Met {
			met = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, t.Measured, met)
	}
	if r.ColdStart != nil {
		fmt.Fprintf(&b, "\nCold start of `exportguard serve` to ready on `GET /`: median %.0f ms (min %.0f, max %.0f, %v runs).\n",
			r.ColdStart["medianMs"], r.ColdStart["minMs"], r.ColdStart["maxMs"], r.ColdStart["runs"])
	}
	return b.String()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func nonzero(x float64) float64 {
	if x == 0 {
		return 1e-12
	}
	return x
}

func machine() map[string]any {
	m := map[string]any{"nproc": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"os": runtime.GOOS + "/" + runtime.GOARCH, "loadAvgStart": loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			if f := strings.Fields(strings.TrimPrefix(l, "MemTotal:")); len(f) > 0 {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					m["memTotal"] = strconv.FormatFloat(kb/(1<<20), 'f', 0, 64) + " GB RAM"
				}
			}
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func human(n int) string {
	switch {
	case n >= 1000000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 10000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 0, 64) + "k"
	}
	return strconv.Itoa(n)
}

func printTable(out io.Writer, r *Results) {
	fmt.Fprintf(out, "\nexportguard benchmark  %s  %v CPUs (%v)  %v  load %v -> %v  %.0fs\n",
		r.Started.Format(time.RFC3339), r.Machine["nproc"], r.Machine["cpu"], r.Machine["go"], r.Machine["loadAvgStart"], r.Machine["loadAvgEnd"], r.Seconds)
	fmt.Fprintf(out, "workload: %v resources, seed %v; %s\n\n", r.Workload["resources"], r.Workload["seed"], workloadLine(r))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tstore\trecords\trec/s\trec/s/core\tCPU ns/rec\tallocs/rec\tB/rec\tpeak heap MB\tp50 ms\tp99 ms\tp99.9 ms\t")
	f0 := func(x float64) string {
		if x == 0 {
			return "-"
		}
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	f1 := func(x float64) string {
		if x == 0 {
			return "-"
		}
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	f2 := func(x float64) string {
		if x == 0 {
			return "-"
		}
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", short(x.Name), x.Store, human(x.Records), f0(x.PerSec), f0(x.PerCore),
			f0(x.CPUNsPerRec), f1(x.AllocsPerRec), f0(x.BytesPerRec), f1(x.PeakHeapMB), f2(x.P50ms), f2(x.P99ms), f2(x.P999ms))
	}
	tw.Flush()
	fmt.Fprintln(out, "\nnotes:")
	for i, x := range r.Rows {
		if x.Note != "" {
			fmt.Fprintf(out, "  row %d (%s, %s): %s\n", i+1, short(x.Name), x.Store, x.Note)
		}
	}
	fmt.Fprintln(out, "\nratios (per core):")
	keys := make([]string, 0, len(r.Ratios))
	for k := range r.Ratios {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  %-36s %6.2f\n", k, r.Ratios[k])
	}
	printPerResource(out, r)
	fmt.Fprintf(out, "\nOPA check: %d judged resources compared, %d mismatches, %d exportguard verdicts of rules the Rego lacks\n",
		r.OPA.Compared, r.OPA.Mismatches, r.OPA.Uncovered)
	for _, e := range r.OPA.Examples {
		fmt.Fprintln(out, "  ", e)
	}
	if r.Findings != nil {
		fmt.Fprintf(out, "findings, no store vs sqlite file (%v records): agree=%v\n", r.Findings["records"], r.Findings["agree"])
	}
	if r.ColdStart != nil {
		fmt.Fprintf(out, "cold start (serve to ready on GET /): median %.1f ms, min %.1f, max %.1f over %v runs\n",
			r.ColdStart["medianMs"], r.ColdStart["minMs"], r.ColdStart["maxMs"], r.ColdStart["runs"])
	}
	if r.Cosmos != nil {
		printCosmos(out, r.Cosmos)
	}
	fmt.Fprintln(out, "\ntargets:")
	for _, t := range r.Targets {
		mark := "MET   "
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(out, "  %s %s: %s\n", mark, t.Goal, t.Measured)
	}
}

func short(name string) string {
	switch {
	case strings.HasPrefix(name, "plain decode: encoding/json into map"):
		return "plain decode, map[string]any"
	case strings.HasPrefix(name, "plain decode: encoding/json into a minimal"):
		return "plain decode, minimal struct"
	case strings.HasPrefix(name, "pipeline in process"):
		return "pipeline in process"
	case strings.HasPrefix(name, "handler end to end"):
		return "handler over HTTP"
	case strings.HasPrefix(name, "exportguard rules only"):
		return "exportguard rules only"
	case strings.HasPrefix(name, "20 custom rules only"):
		return "20 custom rules only"
	case strings.HasPrefix(name, "exportguard rules and the 20 custom"):
		return "exportguard rules + 20 custom rules"
	case strings.Contains(name, "EvalInput"):
		return "OPA, input from JSON"
	case strings.Contains(name, "EvalParsedInput"):
		return "OPA, parsed input"
	}
	return name
}

func workloadLine(r *Results) string {
	s, ok := r.Workload["summary"].(guard.Summary)
	if !ok || s.Changes+s.Rejected == 0 {
		return ""
	}
	n := r.Workload["summaryRecords"]
	return fmt.Sprintf("of %v records: %d changes, %d duplicates, %d skipped (Start records, failures, types no rule judges), %d verdicts, %d transitions",
		n, s.Changes, s.Duplicates, s.Skipped, s.Verdicts, s.Transitions)
}
