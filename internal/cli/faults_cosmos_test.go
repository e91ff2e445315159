package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/internal/faultproxy"
	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
)

// TestFaultCosmosThrottledAndUnavailable replays a session (copies of
// remediation-auto: findings, remediation plans and their writes, the audit
// trail) into Cosmos DB through a proxy that answers 429 (with
// x-ms-retry-after-ms) and 503 for a while, and compares with the embedded
// store's run:
//
//   - faults within the retry budget: the replay finishes, with the same
//     findings and the same audit trail, record for record. The budget of one
//     request: a 429 is tried 6 times in all (azcore's retry policy, waiting
//     x-ms-retry-after-ms each time, at most 10 s), then fails; a 503 is not
//     retried by azcosmos (it retries 5xx only in another region, and there
//     is one), so the store's own retry (4 tries, 100, 200 and 400 ms apart)
//     is all there is: about 0.7 s;
//   - faults longer than the budget (throttling, an outage): the replay fails
//     with an error that says 429 or 503, as the handler's invocation would
//     fail and the host deliver the batch again; run again over the same
//     store once the server recovers, it finishes with the same findings and
//     an intact audit trail;
//   - in full (-faults.full), a larger session, faults on every other request
//     throughout, long retry-after waits, and a 20 s outage.
func TestFaultCosmosThrottledAndUnavailable(t *testing.T) {
	srv := cosmostest.StartForTest(t)
	t.Setenv(envCosmosKey, cosmostest.Key)
	proxy := faultproxy.Start(t, srv.Endpoint)
	session, lines := writeFaultSession(t, faultsScale(t, 2, 10), 47*time.Second)
	t.Logf("session: %d lines (copies of remediation-auto)", lines)
	args := []string{"replay", "--format", "json", "--policy", remAuto}

	embedded := "sqlite:" + filepath.Join(t.TempDir(), "embedded.db")
	want, _, err := run(t, append(args, "--store", embedded, session)...)
	if err != nil {
		t.Fatalf("replay into the embedded store: %v", err)
	}
	if !strings.Contains(want, `"status":"applied"`) {
		t.Fatal("the session remediates nothing: the comparison proves little")
	}
	wantTrail := verifiedTrail(t, testApp(), embedded)

	n := 0
	store := func() string {
		n++
		return fmt.Sprintf("cosmos:%s?database=faults-%d-%d&ensureContainers=true", proxy.URL, os.Getpid(), n)
	}
	replayCosmos := func(store string) (string, string, time.Duration, error) {
		start := time.Now()
		out, errOut, err := run(t, append(args, "--store", store, session)...)
		return out, errOut, time.Since(start), err
	}

	type scenario struct {
		name   string
		faults []faultproxy.Fault
		fails  string // what the first replay's error says; "" when it finishes
		tries  int    // when it fails: the faults the failing request met (its budget)
		// outage: the fault is not lifted when the replay fails; it is run
		// again every second, as the host delivers a failed batch again, until
		// it finishes.
		outage bool
	}
	scenarios := []scenario{
		{"429 on every third request, a burst of 503s, a burst of 429s", []faultproxy.Fault{
			{Status: 429, RetryAfter: 25 * time.Millisecond, Match: faultproxy.Docs, Every: 3, Count: 40},
			{Status: 503, Match: faultproxy.Docs, Count: 3},
			{Status: 429, RetryAfter: 10 * time.Millisecond, Match: faultproxy.Docs, Count: 5},
		}, "", 0, false},
		{"429 for longer than the retry budget", []faultproxy.Fault{
			{Status: 429, RetryAfter: 100 * time.Millisecond, Match: faultproxy.Docs},
		}, "429", 6, false},
		{"503 for longer than the retry budget", []faultproxy.Fault{
			{Status: 503, Match: faultproxy.Docs, For: 3 * time.Second},
		}, "503", 4, false},
	}
	if faultsFull() {
		scenarios = append(scenarios,
			scenario{"429 on one request in five throughout", []faultproxy.Fault{
				{Status: 429, RetryAfter: 5 * time.Millisecond, Match: faultproxy.Docs, Every: 5}}, "", 0, false},
			scenario{"503 on one request in twenty throughout", []faultproxy.Fault{
				{Status: 503, Match: faultproxy.Docs, Every: 20}}, "", 0, false},
			scenario{"429 asking for 2 s, five times in a row", []faultproxy.Fault{
				{Status: 429, RetryAfter: 2 * time.Second, Match: faultproxy.Docs, Count: 5}}, "", 0, false},
			scenario{"503 for 5 s, run again every second until it finishes", []faultproxy.Fault{
				{Status: 503, Match: faultproxy.Docs, For: 5 * time.Second}}, "503", 4, true},
		)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			st := store()
			before := proxy.Stats()
			proxy.Set(sc.faults...)
			got, errOut, took, err := replayCosmos(st)
			faults := proxy.Stats()
			t.Logf("first replay: %v; proxy: %v (before: %v)", took.Round(time.Millisecond), faults, before)
			if faults.Answered[429]+faults.Answered[503] == before.Answered[429]+before.Answered[503] {
				t.Fatal("the proxy answered no request with a fault: the test proves nothing")
			}
			if sc.fails == "" {
				proxy.Lift()
				if err != nil {
					t.Fatalf("replay through the faults: %v\n%s", err, errOut)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("findings differ from the embedded store's (-embedded +cosmos):\n%s", d)
				}
				if gotTrail := verifiedTrail(t, testApp(), st); gotTrail != wantTrail {
					t.Errorf("audit verify: Cosmos DB says %q, the embedded store %q: a fault changed the trail", gotTrail, wantTrail)
				}
				return
			}
			// Past the budget: the replay fails, saying why, and names no key.
			if !sc.outage {
				proxy.Lift()
			}
			if err == nil {
				t.Fatalf("replay through %s: no error", sc.name)
			}
			t.Logf("the replay fails after %v: %v", took.Round(time.Millisecond), err)
			if !strings.Contains(err.Error(), sc.fails) {
				t.Errorf("the error does not say %s: %v", sc.fails, err)
			}
			if st, _ := strconv.Atoi(sc.fails); faults.Answered[st]-before.Answered[st] != sc.tries {
				t.Errorf("the failing request met %d faults before giving up, want %d (its retry budget)", faults.Answered[st]-before.Answered[st], sc.tries)
			}
			if strings.Contains(err.Error()+errOut, cosmostest.Key) {
				t.Error("the error shows the account key")
			}
			// The server recovers; the same replay over the same store finishes.
			for runs := 2; ; runs++ {
				if sc.outage {
					time.Sleep(time.Second)
				}
				got, errOut, took, err = replayCosmos(st)
				if err == nil {
					t.Logf("run %d finishes: %v", runs, took.Round(time.Millisecond))
					break
				}
				if !sc.outage || runs == 60 {
					t.Fatalf("replay again after the fault (run %d): %v\n%s", runs, err, errOut)
				}
				t.Logf("run %d fails too (%v): the outage goes on", runs, took.Round(time.Millisecond))
			}
			proxy.Lift()
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("findings after the fault and a second run differ from the embedded store's (-embedded +cosmos):\n%s", d)
			}
			verifiedTrail(t, testApp(), st) // intact (its length depends on where the first run stopped)
		})
	}
}
