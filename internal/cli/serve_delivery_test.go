package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// heldTarget is a webhook target on loopback that holds every request until
// released, and counts the requests it has finished answering.
type heldTarget struct {
	*httptest.Server
	release  chan struct{}
	finished atomic.Int32
	mu       sync.Mutex
	bodies   []string
}

func newHeldTarget(t *testing.T) *heldTarget {
	ht := &heldTarget{release: make(chan struct{})}
	ht.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer ht.finished.Add(1)
		b, _ := io.ReadAll(r.Body)
		select {
		case <-ht.release:
		case <-r.Context().Done():
			return
		}
		ht.mu.Lock()
		ht.bodies = append(ht.bodies, string(b))
		ht.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ht.Close)
	return ht
}

func (ht *heldTarget) delivered() []string {
	ht.mu.Lock()
	defer ht.mu.Unlock()
	return append([]string(nil), ht.bodies...)
}

// heldARM is the session's recorded ARM whose writes wait until released.
type heldARM struct {
	*replay.ARM
	release  chan struct{}
	finished atomic.Int32
}

func (a *heldARM) hold(ctx context.Context) error {
	select {
	case <-a.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *heldARM) Patch(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	defer a.finished.Add(1)
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return a.ARM.Patch(ctx, id, body)
}

func (a *heldARM) Put(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	defer a.finished.Add(1)
	if err := a.hold(ctx); err != nil {
		return nil, err
	}
	return a.ARM.Put(ctx, id, body)
}

func (a *heldARM) Delete(ctx context.Context, id string) error {
	defer a.finished.Add(1)
	if err := a.hold(ctx); err != nil {
		return err
	}
	return a.ARM.Delete(ctx, id)
}

// An event whose finding is told to a webhook that takes its time, and fixed
// in auto mode through an ARM that takes its time, is answered before either
// is done (issue 14, case 10: one delivery took 22 s inside the invocation);
// once they let go, serve's delivery worker delivers the notification and
// applies the fix, and nothing is left in the outbox.
func TestServeDeliversBesideTheInvocation(t *testing.T) {
	t.Parallel()
	target := newHeldTarget(t)
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	arm := &heldARM{ARM: replay.NewARM(func() time.Time { return now }), release: make(chan struct{})}
	for _, l := range sessionLines(t, session.SourceARM) {
		if !strings.Contains(string(l.Body), "Standard_LRS") { // the state before the fix
			arm.Observe(l)
		}
	}
	app := testApp()
	app.ARMReader = func(string) (guard.ResourceReader, error) { return arm, nil }
	app.Stdout, app.Stderr = io.Discard, io.Discard

	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(`cloud: AzureCloud
allowedGeographies: [United States]
scope: {subscriptions: [7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70]}
rules:
  residency.replication: {mode: remediate}
remediation: {mode: auto}
notify:
  webhook: {url: env:EG_TEST_WEBHOOK_URL}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	db := filepath.Join(dir, "serve.db")
	env := map[string]string{
		"EG_TEST_WEBHOOK_URL":          target.URL + "/siem/ingest?code=c2llbXNlY3JldGNvZGU",
		"FUNCTIONS_CUSTOMHANDLER_PORT": port,
		envStore:                       "sqlite:" + db,
		envPolicy:                      policyPath,
		envLogLevel:                    "warn",
	}
	app.Getenv = func(name string) string { return env[name] }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, []string{"serve"})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://127.0.0.1:" + port
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 400 {
			t.Fatal("serve never answered the readiness probe")
		}
		time.Sleep(25 * time.Millisecond)
	}

	var bodies []string
	for _, l := range sessionLines(t, session.SourceEventHub) {
		bodies = append(bodies, string(l.Body))
	}
	// The bound only keeps the test from hanging when delivery waits inside
	// the invocation for a target that waits for the answer.
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Post(base+"/activitylog", "application/json", bytes.NewReader(hostActivityLogInvocation(t, bodies)))
	if err != nil {
		t.Fatalf("no answer while the webhook and ARM held what the invocation planned: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The answer is here, and neither the target nor ARM has finished
	// anything: nothing the invocation planned was delivered inside it.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), "transitions") {
		t.Fatalf("activitylog: %d %s", resp.StatusCode, answer)
	}
	if n, w := target.finished.Load(), arm.finished.Load(); n != 0 || w != 0 {
		t.Fatalf("the answer came after %d notification(s) and %d ARM write(s) had finished: delivery ran inside the invocation", n, w)
	}
	close(target.release)
	close(arm.release)

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var left []guard.OutboxItem
	for i := 0; ; i++ {
		if left, err = st.ListOutbox(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 || i == 600 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, it := range left {
		t.Errorf("left in the outbox: %s %s attempts %d failed %v: %s", it.Kind, it.ID, it.Attempts, it.Failed, it.LastError)
	}
	got := target.delivered()
	if len(got) == 0 {
		t.Fatal("the webhook was told nothing")
	}
	fs, err := st.ListFindings(context.Background(), guard.FindingFilter{Rule: guard.RuleResidencyReplication})
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, f := range fs {
		if f.Remediation.Status == "applied" {
			applied++
		}
	}
	if applied == 0 || arm.finished.Load() == 0 {
		t.Errorf("%d finding(s) remediated, %d ARM write(s): want the fix applied by the worker", applied, arm.finished.Load())
	}
}
