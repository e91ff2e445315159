package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/slack"
	"github.com/exportguard/exportguard/pkg/sqlite"
	"github.com/exportguard/exportguard/pkg/teams"
	"github.com/exportguard/exportguard/pkg/webhook"
)

// world is a store, a log and a dispatcher over senders to loopback servers.
type world struct {
	t   *testing.T
	st  *sqlite.Store
	log *notifytest.SyncBuffer
	d   *guard.Dispatcher
	srv map[string]*notifytest.Server // by kind
}

func newWorld(t *testing.T, kinds ...string) *world {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, st: st, log: &notifytest.SyncBuffer{}, srv: map[string]*notifytest.Server{}}
	logger := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	senders := map[string]guard.Sender{}
	for _, k := range kinds {
		srv := notifytest.NewServer(t)
		w.srv[k] = srv
		url := srv.URL + notifytest.SecretPath
		var s *notify.Sender
		switch k {
		case notify.KindTeams:
			s, err = teams.NewSender(teams.Config{URL: url, Ledger: st, Outbox: st, Log: logger, Testing: notifytest.NoWait()})
		case notify.KindSlack:
			s, err = slack.NewSender(slack.Config{URL: url, Ledger: st, Outbox: st, Log: logger, Testing: notifytest.NoWait()})
		case notify.KindWebhook:
			s, err = webhook.NewSender(webhook.Config{URL: url, Ledger: st, Outbox: st, Log: logger, Testing: notifytest.NoWait()})
		}
		if err != nil {
			t.Fatal(err)
		}
		senders[k] = s
	}
	w.d = &guard.Dispatcher{Outbox: st, Senders: senders, Log: logger}
	return w
}

func (w *world) enqueue(kind string, m notify.Message, at time.Time) guard.OutboxItem {
	w.t.Helper()
	it := notifytest.Item(w.t, kind, m)
	it.CreatedAt, it.NextAttempt = at, at
	if err := w.st.Enqueue(context.Background(), it); err != nil {
		w.t.Fatal(err)
	}
	return it
}

// run runs the dispatcher every step from start for the given span.
func (w *world) run(start time.Time, span, step time.Duration) {
	w.t.Helper()
	for at := start; !at.After(start.Add(span)); at = at.Add(step) {
		if _, err := w.d.Run(context.Background(), at); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) outbox() map[string]guard.OutboxItem {
	w.t.Helper()
	items, err := w.st.ListOutbox(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]guard.OutboxItem{}
	for _, it := range items {
		out[it.ID] = it
	}
	return out
}

// noSecrets checks that no part of a test server's URL shows in text.
func noSecrets(t *testing.T, what, text string, srvs map[string]*notifytest.Server) {
	t.Helper()
	for _, srv := range srvs {
		host := strings.TrimPrefix(srv.URL, "http://")
		for _, secret := range []string{srv.URL, host, "3f9c0b8e7d6a5f4e3d2c1b0a99887766", "Zm9vYmFyYmF6cXV4c2VjcmV0", "sig="} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q, part of a webhook URL:\n%s", what, secret, text)
			}
		}
	}
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func message(t *testing.T, name string) notify.Message {
	t.Helper()
	for _, c := range notifytest.Cases(t) {
		if c.Name == name {
			return c.Message
		}
	}
	t.Fatalf("no case %s", name)
	return notify.Message{}
}

// A target answering 500 twice and then 200 gets the message once, after two
// retries with backoff; a target that always fails leaves a failed item with
// the reason, and holds up neither the other targets nor its own later items.
func TestRetriesThenDeliversAndFailsWithReason(t *testing.T) {
	w := newWorld(t, notify.KindTeams, notify.KindSlack, notify.KindWebhook)
	teamsSrv, slackSrv, hookSrv := w.srv[notify.KindTeams], w.srv[notify.KindSlack], w.srv[notify.KindWebhook]
	teamsSrv.Respond = func(n int, rw http.ResponseWriter) {
		if n <= 2 {
			rw.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(rw, "upstream "+teamsSrv.URL+notifytest.SecretPath+" broke")
			return
		}
		rw.WriteHeader(http.StatusAccepted)
	}
	slackSrv.Respond = notifytest.Status(http.StatusServiceUnavailable)

	m := message(t, "opened-public")
	items := map[string]guard.OutboxItem{}
	for _, k := range []string{notify.KindTeams, notify.KindSlack, notify.KindWebhook} {
		items[k] = w.enqueue(k, m, t0)
	}
	// The dispatcher's default: 6 attempts, 30s doubling.
	w.run(t0, 2*time.Hour, 10*time.Second)

	delivered := teamsSrv.Requests()
	if len(delivered) != 3 {
		t.Errorf("teams got %d requests, want 2 failures and 1 delivery", len(delivered))
	}
	if hookSrv.Count() != 1 {
		t.Errorf("the webhook got %d requests, want 1 (not held up by slack)", hookSrv.Count())
	}
	if n := slackSrv.Count(); n != 6 {
		t.Errorf("slack got %d requests, want 6 attempts", n)
	}
	left := w.outbox()
	if len(left) != 1 {
		t.Fatalf("outbox keeps %d items, want the failed slack one: %+v", len(left), left)
	}
	failed := left[items[notify.KindSlack].ID]
	if !failed.Failed || failed.Attempts != 6 || !strings.HasPrefix(failed.LastError, "slack: HTTP 503 Service Unavailable") {
		t.Errorf("failed item %+v, want failed after 6 attempts with the reason", failed)
	}
	noSecrets(t, "the failed item's reason", failed.LastError, w.srv)
	noSecrets(t, "the log", w.log.String(), w.srv)
	if !strings.Contains(w.log.String(), "teams: HTTP 500 Internal Server Error: upstream [redacted] broke") {
		t.Errorf("the log should keep the answer, scrubbed:\n%s", w.log.String())
	}

	// The item planned again (a crash before Complete, a replay into the same
	// store) is not sent again: the sender remembers what it delivered.
	w.enqueue(notify.KindTeams, m, t0.Add(3*time.Hour))
	w.run(t0.Add(3*time.Hour), time.Minute, 10*time.Second)
	if teamsSrv.Count() != 3 {
		t.Errorf("an item delivered before was sent again: %d requests", teamsSrv.Count())
	}
}

// A 429 with Retry-After is honoured: no request to that target before the
// time it gave, for that item or any other; then everything is delivered.
func TestHonoursRetryAfter(t *testing.T) {
	w := newWorld(t, notify.KindSlack)
	srv := w.srv[notify.KindSlack]
	var mu sync.Mutex
	var times []time.Time
	now := t0
	srv.Respond = func(n int, rw http.ResponseWriter) {
		mu.Lock()
		times = append(times, now)
		mu.Unlock()
		if n == 1 {
			rw.Header().Set("Retry-After", "120")
			rw.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(rw, `{"ok":false,"error":"rate_limited"}`)
			return
		}
		rw.WriteHeader(http.StatusOK)
		fmt.Fprint(rw, "ok")
	}
	m1, m2 := message(t, "opened-public"), message(t, "resolved-public")
	w.enqueue(notify.KindSlack, m1, t0)
	w.enqueue(notify.KindSlack, m2, t0)
	for at := t0; !at.After(t0.Add(10 * time.Minute)); at = at.Add(5 * time.Second) {
		mu.Lock()
		now = at
		mu.Unlock()
		if _, err := w.d.Run(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	if len(times) < 2 || times[1].Before(t0.Add(120*time.Second)) {
		t.Errorf("requests at %v: want none within 120s of the 429", times)
	}
	if left := w.outbox(); len(left) != 0 {
		t.Errorf("outbox keeps %+v, want both delivered", left)
	}
}

// A redirect is not followed (only the configured URL is called) and another
// 4xx is not retried: both fail the item at once with the reason.
func TestRedirectAndClientErrorsFailAtOnce(t *testing.T) {
	w := newWorld(t, notify.KindWebhook, notify.KindTeams)
	elsewhere := notifytest.NewServer(t)
	w.srv[notify.KindWebhook].Respond = func(_ int, rw http.ResponseWriter) {
		rw.Header().Set("Location", elsewhere.URL)
		rw.WriteHeader(http.StatusTemporaryRedirect)
	}
	w.srv[notify.KindTeams].Respond = notifytest.Status(http.StatusBadRequest)
	m := message(t, "opened-public")
	hook := w.enqueue(notify.KindWebhook, m, t0)
	tm := w.enqueue(notify.KindTeams, m, t0)
	w.run(t0, time.Hour, time.Minute)
	if elsewhere.Count() != 0 {
		t.Error("a redirect was followed")
	}
	left := w.outbox()
	if it := left[hook.ID]; !it.Failed || it.Attempts != 1 || !strings.Contains(it.LastError, "webhook: HTTP 307 Temporary Redirect: a redirect is not followed") {
		t.Errorf("redirected item: %+v", it)
	}
	if it := left[tm.ID]; !it.Failed || it.Attempts != 1 || it.LastError != "teams: HTTP 400 Bad Request: 400 Bad Request" {
		t.Errorf("rejected item: %+v", it)
	}
}

// A target that cannot be reached is retried, and the error names the target,
// not the address.
func TestUnreachableTargetErrorHidesTheURL(t *testing.T) {
	w := newWorld(t, notify.KindTeams)
	w.srv[notify.KindTeams].Close()
	it := w.enqueue(notify.KindTeams, message(t, "opened-public"), t0)
	w.run(t0, 0, time.Minute)
	got := w.outbox()[it.ID]
	if got.Failed || got.Attempts != 1 || !strings.HasPrefix(got.LastError, "teams: no answer: ") {
		t.Errorf("unreachable target: %+v, want a retry", got)
	}
	noSecrets(t, "the error", got.LastError, w.srv)
	noSecrets(t, "the log", w.log.String(), w.srv)
}

// Teams' connectors say "throttled" in a 200: that is a 429.
func TestTeamsConnectorThrottleIn200IsRetried(t *testing.T) {
	w := newWorld(t, notify.KindTeams)
	w.srv[notify.KindTeams].Respond = func(n int, rw http.ResponseWriter) {
		rw.WriteHeader(http.StatusOK)
		if n == 1 {
			fmt.Fprint(rw, "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef")
			return
		}
		fmt.Fprint(rw, "1")
	}
	it := w.enqueue(notify.KindTeams, message(t, "opened-public"), t0)
	w.run(t0, 0, time.Minute)
	if got := w.outbox()[it.ID]; got.Failed || got.Attempts != 1 || !strings.Contains(got.LastError, "teams: HTTP 200, reporting 429 Too Many Requests") {
		t.Errorf("throttled in a 200: %+v", got)
	}
	w.run(t0.Add(time.Minute), 0, time.Minute)
	if left := w.outbox(); len(left) != 0 {
		t.Errorf("not delivered on retry: %+v", left)
	}
}

// A burst never goes out as one request per finding: beyond the limits the
// Teams and Slack senders fold the due messages into digests, the webhook
// spaces its events, and nothing is failed for being throttled. Every message
// arrives exactly once.
func TestBurstIsFoldedAndPaced(t *testing.T) {
	w := newWorld(t, notify.KindTeams, notify.KindSlack, notify.KindWebhook)
	const n = 25
	for _, m := range burst(t, n) {
		for _, k := range []string{notify.KindTeams, notify.KindSlack, notify.KindWebhook} {
			w.enqueue(k, m, t0)
		}
	}
	// One dispatcher run delivers it all: nothing is put back for its turn.
	w.run(t0, 0, time.Second)
	if left := w.outbox(); len(left) != 0 {
		t.Fatalf("%d items left after the burst, e.g. %+v", len(left), left)
	}
	for k, srv := range w.srv {
		reqs := srv.Requests()
		arrivedOnce(t, k, reqs, n)
		t.Logf("%s: %d requests for %d messages", k, len(reqs), n)
		switch k {
		case notify.KindTeams, notify.KindSlack:
			// Burst singles, then digests of at most 10.
			if len(reqs) > 6 {
				t.Errorf("%s: %d requests for a burst of %d, want it folded", k, len(reqs), n)
			}
		case notify.KindWebhook:
			if len(reqs) != n {
				t.Errorf("webhook: %d requests, want one event each", len(reqs))
			}
		}
	}
}

// burst is n "opened" messages about n storage accounts, acct01 to acctNN.
func burst(t *testing.T, n int) []notify.Message {
	t.Helper()
	base := message(t, "opened-public")
	out := make([]notify.Message, n)
	for i := range out {
		m := base
		m.Finding.ID = fmt.Sprintf("%032x", i+1)
		m.Resource.Name = fmt.Sprintf("acct%02d", i+1)
		m.Finding.ResourceID = strings.TrimSuffix(m.Finding.ResourceID, "eudrbackup") + m.Resource.Name
		out[i] = m
	}
	return out
}

// arrivedOnce checks that each of burst's n messages is in exactly one of the
// requests a target was sent.
func arrivedOnce(t *testing.T, target string, reqs []notifytest.Request, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("acct%02d", i+1)
		in := 0
		for _, r := range reqs {
			if strings.Contains(string(r.Body), name) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("%s: %s arrived in %d requests, want 1", target, name, in)
		}
	}
}

// Limits.Spacing holds on the wall clock whatever the dispatcher's clock says.
func TestSpacingOnTheWallClock(t *testing.T) {
	srv := notifytest.NewServer(t)
	var wall time.Time = t0
	var slept []time.Duration
	s, err := notify.NewSender(notify.SenderConfig{Target: "slack", Kind: notify.KindSlack, URL: srv.URL + "/hook",
		Render: slack.Render, Limits: notify.Limits{Burst: 10, Every: time.Millisecond, Spacing: 500 * time.Millisecond},
		Log: slog.New(slog.DiscardHandler),
		Testing: notify.TestOptions{AllowLoopbackHTTP: true, Wall: func() time.Time { return wall },
			Sleep: func(_ context.Context, d time.Duration) error {
				slept = append(slept, d)
				wall = wall.Add(d)
				return nil
			}}})
	if err != nil {
		t.Fatal(err)
	}
	m := message(t, "opened-public")
	for i := 0; i < 3; i++ {
		m.Finding.ID = fmt.Sprintf("%032x", i)
		if err := s.Send(context.Background(), notifytest.Item(t, notify.KindSlack, m), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		wall = wall.Add(100 * time.Millisecond) // each request takes 100ms
	}
	if len(slept) != 2 || slept[0] != 400*time.Millisecond || slept[1] != 400*time.Millisecond {
		t.Errorf("slept %v, want 400ms before the 2nd and 3rd requests", slept)
	}
}

func TestURLsAreCheckedAndNeverShown(t *testing.T) {
	const secret = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	for _, tt := range []struct {
		url      string
		loopback bool
		want     string
	}{
		{"http://hooks.example.com/x/SECRETSECRETSECRET", false, "notify.slack.url: must be https"},
		{"http://hooks.example.com/x/SECRETSECRETSECRET", true, "notify.slack.url: plain http is allowed only to a loopback address, in tests"},
		{"http://127.0.0.1:9/x/SECRETSECRETSECRET", false, "notify.slack.url: must be https"},
		{"ftp://hooks.example.com/SECRETSECRETSECRET", true, "notify.slack.url: must be https"},
		{"hooks.example.com/SECRETSECRETSECRET", true, "notify.slack.url: not an absolute URL"},
	} {
		_, err := slack.NewSender(slack.Config{URL: tt.url, Testing: notify.TestOptions{AllowLoopbackHTTP: tt.loopback}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s (loopback %v): %v, want %q", tt.url, tt.loopback, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error shows the URL: %v", err)
		}
	}
	s, err := slack.NewSender(slack.Config{URL: secret})
	if err != nil {
		t.Fatal(err)
	}
	for _, shown := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), slog.Any("s", s).Value.Resolve().String()} {
		if strings.Contains(shown, "hooks.slack.com") || strings.Contains(shown, "XXXX") {
			t.Errorf("a sender printed shows its URL: %s", shown)
		}
	}
}

func TestResolveURL(t *testing.T) {
	env := map[string]string{"TEAMS_HOOK": " https://example.webhook.office.com/x "}
	get := func(k string) string { return env[k] }
	if u, err := notify.ResolveURL("env:TEAMS_HOOK", get); err != nil || u != "https://example.webhook.office.com/x" {
		t.Errorf("env:TEAMS_HOOK = %q, %v", u, err)
	}
	if u, err := notify.ResolveURL("https://a.example/b", get); err != nil || u != "https://a.example/b" {
		t.Errorf("a literal URL = %q, %v", u, err)
	}
	if _, err := notify.ResolveURL("env:SLACK_HOOK", get); err == nil || err.Error() != "environment variable SLACK_HOOK is not set" {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := notify.ResolveURL("env:1BAD", get); err == nil {
		t.Error("a bad variable name is accepted")
	}
}

// Beyond its burst a sender waits for its turn (on the wall clock) rather
// than sending at once or putting the item back.
func TestWaitsForItsTurn(t *testing.T) {
	srv := notifytest.NewServer(t)
	var slept []time.Duration
	s, err := notify.NewSender(notify.SenderConfig{Target: "webhook", Kind: notify.KindWebhook, URL: srv.URL + "/hook",
		Render: webhook.Render, Limits: notify.Limits{Burst: 2, Every: time.Second}, Log: slog.New(slog.DiscardHandler),
		Testing: notify.TestOptions{AllowLoopbackHTTP: true,
			Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	m := message(t, "opened-public")
	for i := 0; i < 4; i++ {
		m.Finding.ID = fmt.Sprintf("%032x", i)
		if err := s.Send(context.Background(), notifytest.Item(t, notify.KindWebhook, m), t0); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	if srv.Count() != 4 || len(slept) != 2 {
		t.Fatalf("%d requests, waits %v: want 4 requests, a wait before the 3rd and the 4th", srv.Count(), slept)
	}
	for _, d := range slept {
		if d < 990*time.Millisecond || d > time.Second {
			t.Errorf("waited %v, want about a second", d)
		}
	}
}
