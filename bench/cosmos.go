package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/cosmos"
	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
)

// StoreCosmos is pkg/cosmos on the local Cosmos DB server the driver starts.
const StoreCosmos StoreKind = "cosmos-local"

// StartCosmos starts the project's local Cosmos DB server
// (pkg/cosmos/testdata/cosmosdb-server.js, through cosmostest, which counts
// the requests it receives). cosmostest finds the repository from the working
// directory's go.mod, which in this module is bench's own; so the server is
// started from the repository root, the directory above this module, and the
// working directory is put back.
func StartCosmos() (*cosmostest.Server, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := repoRoot(wd)
	if err != nil {
		return nil, fmt.Errorf("start local Cosmos DB server: %w", err)
	}
	if err := os.Chdir(root); err != nil {
		return nil, err
	}
	srv, err := cosmostest.Start()
	if cerr := os.Chdir(wd); cerr != nil && err == nil {
		srv.Stop()
		return nil, cerr
	}
	return srv, err
}

// repoRoot is the nearest directory above dir (or dir) holding the local
// server's wrapper script.
func repoRoot(dir string) (string, error) {
	for range 64 {
		if _, err := os.Stat(filepath.Join(dir, "pkg", "cosmos", "testdata", "cosmosdb-server.js")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("no exportguard repository above the working directory")
}

// OpenCosmos opens a store, a client of its own, in database db of the local
// server at endpoint, creating the containers.
func OpenCosmos(ctx context.Context, endpoint, db string) (*cosmos.Store, error) {
	return cosmos.Open(ctx, cosmos.Options{Endpoint: endpoint, Database: db, Key: cosmos.AccountKey(cosmostest.Key), EnsureContainers: true})
}

// NewCosmosEnv builds a pipeline, as NewEnv does, on a store of its own in
// database db of the local server.
func NewCosmosEnv(ctx context.Context, u *workload.Universe, endpoint, db string) (*Env, error) {
	e := &Env{Clock: &Clock{}, Log: Logger()}
	e.Clock.Set(workload.Start)
	e.ARM = replay.NewARM(e.Clock.Now)
	u.Observe(e.ARM)
	st, err := OpenCosmos(ctx, endpoint, db)
	if err != nil {
		return nil, err
	}
	e.Store, e.StoreURL = st, "cosmos:"+strings.TrimSuffix(endpoint, "/")+"?database="+db
	e.Pipeline = NewPipeline(e.Store, e.ARM, policyfile.Default(), e.Log)
	return e, nil
}

// RunItems hands the items to the pipeline in order, an Event Hubs batch as
// one IngestAll (as the handler does), and returns the sum of what it did.
// A delivery that fails is counted in failed (the first errors kept in errs)
// and the next one handed over. batchLat, when set, gets each delivery's time.
func RunItems(ctx context.Context, e *Env, items []workload.Item, m, batchLat *Meter) (sum guard.Summary, failed int, errs []error) {
	for _, it := range items {
		e.Clock.Set(it.Now)
		sec := m.Start()
		t0 := time.Now()
		got, err := e.Pipeline.IngestAll(ctx, it.Source, it.Bodies, it.Now)
		if batchLat != nil {
			d := time.Since(t0)
			batchLat.Lat = append(batchLat.Lat, d)
			batchLat.Wall += d
			batchLat.Records += it.Records
		}
		m.Stop(sec, it.Records)
		sum.Add(got)
		if err != nil {
			failed++
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}
	}
	return sum, failed, errs
}

// Records is the number of records in items.
func Records(items []workload.Item) int {
	n := 0
	for _, it := range items {
		n += it.Records
	}
	return n
}

// CosmosCost is what a session cost at the server.
type CosmosCost struct {
	Records  int               `json:"records"`
	Summary  guard.Summary     `json:"summary"`
	Failed   int               `json:"failedDeliveries"`
	Counts   cosmostest.Counts `json:"counts"`
	Errors   []string          `json:"errors,omitempty"`
	Seconds  float64           `json:"seconds"`
	P50ms    float64           `json:"p50ms,omitempty"`
	P99ms    float64           `json:"p99ms,omitempty"`
	Delivers int               `json:"deliveries"`
}

// Queries is how many of the requests were queries (the outbox's due items,
// asked once per delivery by the dispatcher, and findings lists).
func (c CosmosCost) Queries() int64 { return c.Counts.ByKind["POST_QUERY"] }

// Measure runs items through e's pipeline with the server's counts reset
// before and read after.
func Measure(ctx context.Context, e *Env, endpoint string, items []workload.Item) (CosmosCost, error) {
	if _, err := cosmostest.ResetCounts(ctx, endpoint); err != nil {
		return CosmosCost{}, err
	}
	m, lat := NewMeter(false), NewMeter(true)
	sum, failed, errs := RunItems(ctx, e, items, m, lat)
	c, err := cosmostest.ReadCounts(ctx, endpoint)
	if err != nil {
		return CosmosCost{}, err
	}
	out := CosmosCost{Records: Records(items), Summary: sum, Failed: failed, Counts: c, Seconds: m.Wall.Seconds(),
		P50ms: ms(lat.Percentile(50)), P99ms: ms(lat.Percentile(99)), Delivers: len(items)}
	for _, err := range errs {
		out.Errors = append(out.Errors, err.Error())
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ScaleRun is n pipelines at once on one database.
type ScaleRun struct {
	Pipelines     int      `json:"pipelines"`
	Records       int      `json:"records"`
	Judged        int      `json:"judgedChanges"`
	Seconds       float64  `json:"seconds"`
	PerSec        float64  `json:"recordsPerSec"`     // all pipelines' records per wall second
	PerPipeline   float64  `json:"perPipelinePerSec"` // the mean of each pipeline's records per second
	Failed        int      `json:"failedDeliveries"`
	Errors        []string `json:"errors,omitempty"`
	Requests      int64    `json:"requests"`
	FindingsAgree bool     `json:"findingsAgreeWithSerial"`
	Findings      int      `json:"findings"`
}

// RunScale runs one pipeline per element of sessions at once, each on a
// store (a client) of its own in database db, and then compares the
// database's findings with want (rule and status counted, from a serial run
// of the same sessions).
func RunScale(ctx context.Context, u *workload.Universe, endpoint, db string, sessions [][]workload.Item, want map[string]int) (ScaleRun, error) {
	envs := make([]*Env, len(sessions))
	for i := range sessions {
		e, err := NewCosmosEnv(ctx, u, endpoint, db)
		if err != nil {
			return ScaleRun{}, err
		}
		defer e.Close()
		envs[i] = e
	}
	if _, err := cosmostest.ResetCounts(ctx, endpoint); err != nil {
		return ScaleRun{}, err
	}
	r := ScaleRun{Pipelines: len(sessions)}
	type result struct {
		sum    guard.Summary
		failed int
		errs   []error
		m      *Meter
	}
	results := make([]result, len(sessions))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range sessions {
		wg.Go(func() {
			m := NewMeter(false)
			sum, failed, errs := RunItems(ctx, envs[i], sessions[i], m, nil)
			results[i] = result{sum, failed, errs, m}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(t0).Seconds()
	for i, res := range results {
		r.Records += Records(sessions[i])
		r.Judged += res.sum.Changes - res.sum.Duplicates - res.sum.Skipped
		r.Failed += res.failed
		for _, err := range res.errs {
			r.Errors = append(r.Errors, fmt.Sprintf("pipeline %d: %v", i+1, err))
		}
		r.PerPipeline += res.m.PerSec() / float64(len(sessions))
	}
	r.PerSec = float64(r.Records) / r.Seconds
	c, err := cosmostest.ReadCounts(ctx, endpoint)
	if err != nil {
		return r, err
	}
	r.Requests = c.Requests
	got, err := FindingCounts(ctx, envs[0].Store)
	if err != nil {
		return r, err
	}
	for _, n := range got {
		r.Findings += n
	}
	r.FindingsAgree = fmt.Sprint(got) == fmt.Sprint(want)
	return r, nil
}

// FindingCounts counts a store's findings by rule and status.
func FindingCounts(ctx context.Context, st guard.Store) (map[string]int, error) {
	fs, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, f := range fs {
		out[f.Rule+" "+strings.ToLower(string(f.Status))]++
	}
	return out, nil
}

// PerUnit is a CosmosCost divided by what it is counted per (judged changes,
// duplicates, records).
type PerUnit struct {
	Per      string  `json:"per"`
	Count    int     `json:"count"`
	Requests float64 `json:"requests"`
	Reads    float64 `json:"pointReads"`
	Batches  float64 `json:"transactionalBatches"`
	BatchOps float64 `json:"batchOperations"`
	Queries  float64 `json:"queries"`
	BytesIn  float64 `json:"bytesWritten"` // request bodies
	BytesOut float64 `json:"bytesRead"`    // response bodies
}

func per(c CosmosCost, what string, n int) PerUnit {
	d := float64(max(n, 1))
	return PerUnit{Per: what, Count: n, Requests: float64(c.Counts.Requests) / d, Reads: float64(c.Counts.ByMethod["GET"]) / d,
		Batches: float64(c.Counts.Batches) / d, BatchOps: float64(c.Counts.BatchOps) / d, Queries: float64(c.Queries()) / d,
		BytesIn: float64(c.Counts.BytesIn) / d, BytesOut: float64(c.Counts.BytesOut) / d}
}

// CosmosConfig sizes the Cosmos DB runs.
type CosmosConfig struct {
	Accounts            int   // storage accounts in the session whose cost is counted
	PerPipeline, Rounds int   // storage accounts per pipeline, and write operations of each, in the runs at once
	Pipelines           []int // how many pipelines at once, per run
}

// CosmosResults are the Cosmos DB figures.
type CosmosResults struct {
	Server    string       `json:"server"`
	Session   string       `json:"session"`
	Judged    PerUnit      `json:"perJudgedChange"`
	Duplicate PerUnit      `json:"perDuplicate"`
	Unjudged  PerUnit      `json:"perRecordNoRuleJudges"`
	Runs      []CosmosCost `json:"runs"` // the three sessions, whole: judged, the same again, unjudged
	Scale     []ScaleRun   `json:"atOnce"`
}

// RunCosmos measures pkg/cosmos on a local server it starts: what one session
// costs at the server (issue 15's: cfg.Accounts storage accounts, each a
// Start and a Success write record), the same session again (duplicates), a
// session no rule judges (each operation a Start and a Failure record); then
// cfg.Pipelines pipelines at once on one database, each on resources of its
// own, against a serial run of the same sessions on the baseline store.
func RunCosmos(ctx context.Context, u *workload.Universe, cfg CosmosConfig, progress func(string, ...any)) (*CosmosResults, error) {
	srv, err := StartCosmos()
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	res := &CosmosResults{Server: "pkg/cosmos/testdata/cosmosdb-server.js (@vercel/cosmosdb-server on node " + nodeVersion(ctx) +
		", one single-threaded process) on loopback, started by the driver; requests counted at the server (GET /_counts)"}
	accounts := u.StorageAccounts()
	if cfg.Accounts > len(accounts) {
		return nil, fmt.Errorf("cosmos: %d storage accounts asked for, the estate has %d", cfg.Accounts, len(accounts))
	}
	at := workload.Start.Add(12 * time.Hour) // after every ARM version of the estate
	session := u.WriteSession(accounts[:cfg.Accounts], workload.Session{Seed: 1, At: at})
	unjudged := u.WriteSession(accounts[:cfg.Accounts], workload.Session{Seed: 2, At: at.Add(time.Hour), Unjudged: true})
	res.Session = fmt.Sprintf("%d storage accounts, each a Start and a Success record of a write (%d records in %d Event Hubs deliveries), one pipeline (guard.Pipeline as serve wires it) on pkg/cosmos",
		cfg.Accounts, Records(session), len(session))
	e, err := NewCosmosEnv(ctx, u, srv.Endpoint, "cost")
	if err != nil {
		return nil, err
	}
	defer e.Close()
	for i, items := range [][]workload.Item{session, session, unjudged} {
		progress("cosmos: %s, %d records", []string{"session", "the same session again", "records no rule judges"}[i], Records(items))
		c, err := Measure(ctx, e, srv.Endpoint, items)
		if err != nil {
			return nil, err
		}
		if c.Failed > 0 {
			return nil, fmt.Errorf("cosmos: %d deliveries failed: %v", c.Failed, c.Errors)
		}
		res.Runs = append(res.Runs, c)
	}
	s := res.Runs[0].Summary
	res.Judged = per(res.Runs[0], "judged change", s.Changes-s.Duplicates-s.Skipped)
	res.Duplicate = per(res.Runs[1], "duplicate", res.Runs[1].Summary.Duplicates)
	res.Unjudged = per(res.Runs[2], "record no rule judges", res.Runs[2].Records)

	for _, n := range cfg.Pipelines {
		if n*cfg.PerPipeline > len(accounts) {
			return nil, fmt.Errorf("cosmos: %d pipelines of %d storage accounts each: the estate has %d", n, cfg.PerPipeline, len(accounts))
		}
		sessions := make([][]workload.Item, n)
		ref, err := NewEnv(ctx, u, StoreNone, "")
		if err != nil {
			return nil, err
		}
		for i := range n {
			sessions[i] = u.WriteSession(accounts[i*cfg.PerPipeline:(i+1)*cfg.PerPipeline],
				workload.Session{Rounds: cfg.Rounds, Seed: uint64(100 + i), At: at})
			if _, failed, errs := RunItems(ctx, ref, sessions[i], NewMeter(false), nil); failed > 0 {
				return nil, fmt.Errorf("cosmos: serial reference run: %v", errs)
			}
		}
		want, err := FindingCounts(ctx, ref.Store)
		if err != nil {
			return nil, err
		}
		ref.Close()
		progress("cosmos: %d pipelines at once, %d records each", n, Records(sessions[0]))
		r, err := RunScale(ctx, u, srv.Endpoint, fmt.Sprintf("atonce-%d", n), sessions, want)
		if err != nil {
			return nil, err
		}
		res.Scale = append(res.Scale, r)
	}
	return res, nil
}

func nodeVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
