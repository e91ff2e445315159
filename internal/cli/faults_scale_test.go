package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
	"github.com/exportguard/exportguard/pkg/guard"
)

// TestFaultScaleOutCosmos is issue 15's scale-out case: 8 exportguard
// processes (the built binary, each its own OS process, as 8 Functions
// instances are) replay 8 sessions of distinct storage accounts into one
// Cosmos DB database at once. Every process must exit 0, the findings left in
// the database must be those a serial run of the same sessions leaves in a
// fresh one, and audit verify must pass on it (every partition chain and the
// seal chain, which all 8 processes append to at the end of their replay).
//
// What it guards: before issue 15 every appender of every process went
// through one audit tail, and 4 to 5 of 8 such processes failed ("conflict:
// other appenders took 32 Seqs in a row"), leaving 49 open findings where the
// serial run left 124. With a chain per partition, processes judging distinct
// resources never write the same document, but for the seal chain and the
// containers they all create on start (ensureContainers).
//
// Short: 8 × 20 accounts (on the layout before issue 15, 1 or 2 of 8 failed
// with that many; 8 × 10 were too few to collide); full
// (EXPORTGUARD_FAULTS=full): 8 × 50 (5 of 8 failed there, 206 findings of 544).
func TestFaultScaleOutCosmos(t *testing.T) {
	const procs = 8
	accounts := faultsScale(t, 20, 50)
	bin := exportguardBinary(t)
	srv := cosmostest.StartForTest(t)
	t.Setenv(envCosmosKey, cosmostest.Key)
	dir := t.TempDir()
	var sessions []string
	for s := range procs {
		sessions = append(sessions, writeStorageSession(t, dir, s, accounts))
	}
	store := func(name string) string {
		return fmt.Sprintf("cosmos:%s?database=scale-%d-%s&ensureContainers=true", srv.Endpoint, os.Getpid(), name)
	}
	replayArgs := func(st, session string) []string {
		return []string{"replay", "--format", "json", "--log-level", "warn", "--store", st, session}
	}

	serial := store("serial")
	start := time.Now()
	for _, s := range sessions {
		if out, err := runBinary(bin, replayArgs(serial, s)...); err != nil {
			t.Fatalf("serial replay of %s: %v\n%s", filepath.Base(s), err, out)
		}
	}
	serialTook := time.Since(start)

	concurrent := store("concurrent")
	if _, err := cosmostest.ResetCounts(t.Context(), srv.Endpoint); err != nil {
		t.Fatal(err)
	}
	outs := make([]string, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	start = time.Now()
	for i, s := range sessions {
		wg.Go(func() { outs[i], errs[i] = runBinary(bin, replayArgs(concurrent, s)...) })
	}
	wg.Wait()
	took := time.Since(start)
	counts, err := cosmostest.ReadCounts(t.Context(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			t.Errorf("process %d of %d (%s): %v\n%s", i+1, procs, filepath.Base(sessions[i]), err, outs[i])
		}
	}

	want, got := findingSet(t, serial), findingSet(t, concurrent)
	open, judged := 0, map[string]bool{}
	for _, f := range want {
		fields := strings.Fields(f)
		if fields[1] == string(guard.StatusOpen) {
			open++
		}
		judged[fields[3]] = true
	}
	t.Logf("%d processes × %d accounts: %d failed; %d findings (%d open, on %d accounts) in the serial run, %d concurrently; serial %v, concurrent %v; %d requests to the server (%d batches) while concurrent",
		procs, accounts, failed, len(want), open, len(judged), len(got), serialTook.Round(time.Millisecond), took.Round(time.Millisecond), counts.Requests, counts.Batches)
	if open == 0 || len(judged) == procs*accounts {
		t.Fatalf("the serial run left %d open findings, on %d of %d accounts: the sessions must give findings and accounts without", open, len(judged), procs*accounts)
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("findings of %d processes at once differ from a serial run's (-serial +concurrent):\n%s", procs, d)
	}
	if out, err := runBinary(bin, "audit", "verify", "--store", concurrent); err != nil {
		t.Errorf("audit verify after %d processes at once: %v\n%s", procs, err, out)
	} else {
		t.Logf("audit verify: %s", strings.TrimSpace(out))
	}
}

// findingSet reads a store's findings as "id status rule resource" lines, sorted.
func findingSet(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := testApp().openStore(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer st.Close()
	fs, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.ID+" "+string(f.Status)+" "+f.Rule+" "+f.ResourceID)
	}
	slices.Sort(out)
	return out
}

// exportguardBinary builds the exportguard command (go build, with the
// test's build cache) into the test's temporary directory and returns its path.
func exportguardBinary(t *testing.T) string {
	t.Helper()
	//lint:ignore SA1019 a test binary runs where it was built: GOROOT is the toolchain running this test, the one that must build exportguard
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	bin := filepath.Join(t.TempDir(), "exportguard")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs the built binary with the test's environment (COSMOS_KEY
// included) and returns what it printed, stdout and stderr together.
func runBinary(bin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
