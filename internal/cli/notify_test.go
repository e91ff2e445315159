package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// targets are three loopback servers standing in for Teams, Slack and a
// CloudEvents webhook, named to the pipeline through env:NAME URLs.
type targets struct {
	teams, slack, webhook *notifytest.Server
}

func newTargets(t *testing.T) *targets {
	t.Helper()
	return &targets{notifytest.NewServer(t), notifytest.NewServer(t), notifytest.NewServer(t)}
}

// env are the settings that name the targets, as notifyYAML reads them.
func (tg *targets) env() map[string]string {
	return map[string]string{
		"EG_TEST_TEAMS_URL":   tg.teams.URL + notifytest.SecretPath,
		"EG_TEST_SLACK_URL":   tg.slack.URL + "/services/T0EXPORTGD/B0NOTIFYTST/c2VjcmV0c2VjcmV0c2VjcmV0",
		"EG_TEST_WEBHOOK_URL": tg.webhook.URL + "/siem/ingest?code=c2llbXNlY3JldGNvZGU",
	}
}

// app is an App whose settings name the targets (and hold nothing else).
func (tg *targets) app() *App { return envApp(tg.env()) }

const notifyYAML = `
notify:
  teams: {url: env:EG_TEST_TEAMS_URL}
  slack: {url: env:EG_TEST_SLACK_URL}
  webhook: {url: env:EG_TEST_WEBHOOK_URL}
`

// sessionPolicy writes the session's policy (or none) with the three targets
// added, beside a copy of any roster file it names.
func sessionPolicy(t *testing.T, s sessionCase) string {
	t.Helper()
	dir := t.TempDir()
	var raw []byte
	if s.policy != "" {
		var err error
		if raw, err = os.ReadFile(s.policy); err != nil {
			t.Fatal(err)
		}
		rosters, _ := filepath.Glob("testdata/sessions/*.txt")
		for _, r := range rosters {
			b, _ := os.ReadFile(r)
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(r)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, append(raw, notifyYAML...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// told is one notification as a person reads it: what happened, by rule,
// resource and time (to the second, as cards show it).
type told struct{ title, rule, name, when string }

func (k told) String() string { return k.title + " | " + k.rule + " | " + k.name + " | " + k.when }

// expectedTold is what the audit trail says people must be told: each
// transition into or out of open, once (the same transition recorded twice,
// as a replay into the same store records it again, is told once).
func expectedTold(t *testing.T, db string) (byCard []string, byEvent []string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := trailEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		to, ok := strings.CutPrefix(r.Kind, "finding.")
		if !ok {
			continue
		}
		var d struct {
			Rule, ResourceID string
			From             guard.Status
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		e, ok := eventFor(d.From, guard.Status(to))
		if !ok {
			continue
		}
		key := r.Subject + "|" + to + "|" + r.At.Format(time.RFC3339Nano)
		if seen[key] {
			continue
		}
		seen[key] = true
		byCard = append(byCard, told{e.Title(), d.Rule, lastSeg(d.ResourceID), notify.Message{At: r.At}.WhenText()}.String())
		byEvent = append(byEvent, fmt.Sprintf("%s %s %s", r.Subject, to, r.At.UTC().Format(time.RFC3339Nano)))
	}
	sort.Strings(byCard)
	sort.Strings(byEvent)
	return byCard, byEvent
}

func eventFor(from, to guard.Status) (notify.Event, bool) {
	switch {
	case to == guard.StatusOpen && from == "":
		return notify.EventOpened, true
	case to == guard.StatusOpen && from == guard.StatusResolved:
		return notify.EventReopened, true
	case to == guard.StatusOpen && from == guard.StatusExempt:
		return notify.EventExemptionExpired, true
	case from == guard.StatusOpen:
		if to == guard.StatusResolved {
			return notify.EventResolved, true
		}
		return notify.EventExempted, to == guard.StatusExempt
	}
	return "", false
}

func lastSeg(id string) string { return id[strings.LastIndex(strings.TrimRight(id, "/"), "/")+1:] }

// toldTeams reads what the Teams cards posted say, a card or a digest entry
// per notification.
func toldTeams(t *testing.T, reqs []notifytest.Request) []string {
	t.Helper()
	var out []string
	for _, r := range reqs {
		var env struct {
			Attachments []struct {
				Content struct {
					Body []struct {
						Type  string
						Text  string
						Items []struct{ Text string }
						Facts []struct{ Title, Value string }
					}
				}
			}
		}
		if err := json.Unmarshal(r.Body, &env); err != nil || len(env.Attachments) != 1 {
			t.Fatalf("a Teams post is not a message with one card: %v\n%s", err, r.Body)
		}
		body := env.Attachments[0].Content.Body
		head := body[0].Items[0].Text
		if strings.HasSuffix(head, " findings changed state") {
			for _, c := range body[1:] {
				// "**Title** · SEV · rule" and "[name](portal) · type · region · when · who"
				a := strings.Split(c.Items[0].Text, " · ")
				b := strings.Split(c.Items[1].Text, " · ")
				out = append(out, told{strings.Trim(a[0], "*"), a[2], b[0][1:strings.Index(b[0], "](")], b[3]}.String())
			}
			continue
		}
		title, rest, _ := strings.Cut(head, ": ")
		rule, name, _ := strings.Cut(rest, " on ")
		when := ""
		for _, e := range body {
			for _, f := range e.Facts {
				if f.Title == "When" {
					when = f.Value
				}
			}
		}
		out = append(out, told{title, rule, name, when}.String())
	}
	sort.Strings(out)
	return out
}

// toldSlack reads what the Slack messages posted say.
func toldSlack(t *testing.T, reqs []notifytest.Request) []string {
	t.Helper()
	var out []string
	for _, r := range reqs {
		var p struct {
			Blocks []struct {
				Type   string
				Text   *struct{ Text string }
				Fields []struct{ Text string }
			}
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("a Slack post is not JSON: %v", err)
		}
		head := p.Blocks[0].Text.Text
		if strings.HasSuffix(head, " findings changed state") {
			for _, b := range p.Blocks[2:] {
				if b.Type != "section" {
					continue
				}
				lines := strings.Split(b.Text.Text, "\n")
				a := strings.Split(lines[0], " · ")
				c := strings.Split(lines[1], " · ")
				title := strings.Trim(a[0][strings.Index(a[0], " ")+1:], "*")
				out = append(out, told{title, strings.Trim(a[2], "`"), c[0][strings.Index(c[0], "|")+1 : len(c[0])-1], c[3]}.String())
			}
			continue
		}
		title, rest, _ := strings.Cut(head, ": ")
		rule, name, _ := strings.Cut(rest, " on ")
		when := ""
		for _, b := range p.Blocks {
			for _, f := range b.Fields {
				if v, ok := strings.CutPrefix(f.Text, "*When*\n"); ok {
					when = v
				}
			}
		}
		out = append(out, told{title, rule, name, when}.String())
	}
	sort.Strings(out)
	return out
}

// toldWebhook reads the CloudEvents posted: finding, new status, time.
func toldWebhook(t *testing.T, reqs []notifytest.Request) []string {
	t.Helper()
	var out []string
	status := map[string]string{
		"opened": "open", "reopened": "open", "exemption.expired": "open", "resolved": "resolved", "exempted": "exempt",
	}
	for _, r := range reqs {
		var e event.Event
		if err := format.JSON.Unmarshal(r.Body, &e); err != nil {
			t.Fatalf("a webhook post is not a CloudEvent: %v", err)
		}
		var f guard.Finding
		if err := json.Unmarshal(e.Data(), &f); err != nil {
			t.Fatal(err)
		}
		to := status[strings.TrimPrefix(e.Type(), "com.exportguard.finding.")]
		if to == "" || string(f.Status) != to || e.Subject() != f.ResourceID {
			t.Errorf("event %s about %s (status %s)", e.Type(), e.Subject(), f.Status)
		}
		out = append(out, fmt.Sprintf("%s %s %s", f.ID, to, e.Time().UTC().Format(time.RFC3339Nano)))
	}
	sort.Strings(out)
	return out
}

// checkTold compares what each target was told with what the audit trail
// says it must be told: every notifiable transition once, nothing else.
func checkTold(t *testing.T, tg *targets, db string) int {
	t.Helper()
	byCard, byEvent := expectedTold(t, db)
	if diff := cmp.Diff(byCard, toldTeams(t, tg.teams.Requests())); diff != "" {
		t.Errorf("Teams was not told each transition once (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(byCard, toldSlack(t, tg.slack.Requests())); diff != "" {
		t.Errorf("Slack was not told each transition once (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(byEvent, toldWebhook(t, tg.webhook.Requests())); diff != "" {
		t.Errorf("the webhook was not told each transition once (-want +got):\n%s", diff)
	}
	return len(byEvent)
}

// Every recorded session, replayed twice in a row into one store: each
// transition into or out of open is told to Teams, Slack and the webhook
// exactly once, and nothing else is. The second replay re-sends nothing of
// the first (the ledger drops the repeated events; a transition the pipeline
// records again is recognised by its outbox item ID).
func TestReplayTwiceTellsEachTransitionOnce(t *testing.T) {
	t.Parallel()
	for _, s := range sessions(t) {
		if strings.HasPrefix(s.name, "remediation-") {
			continue // outcomes of remediation are told too: TestRemediationOutcomesAreToldOnce
		}
		t.Run(s.name, func(t *testing.T) {
			tg := newTargets(t)
			db := filepath.Join(t.TempDir(), "notify.db")
			args := []string{"replay", "--format", "json", "--store", "sqlite:" + db, "--policy", sessionPolicy(t, s), s.path}
			if _, errOut, err := runApp(t, tg.app(), args...); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			first := [3]int{tg.teams.Count(), tg.slack.Count(), tg.webhook.Count()}
			firstTold := checkTold(t, tg, db)
			if _, errOut, err := runApp(t, tg.app(), args...); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			n := checkTold(t, tg, db)
			t.Logf("%d transition(s) told; requests after one replay %v, after two %v (second replay's own transitions: %d)",
				n, first, [3]int{tg.teams.Count(), tg.slack.Count(), tg.webhook.Count()}, n-firstTold)
			if firstTold == 0 && s.name != "malformed-lines" {
				t.Errorf("session %s told nobody anything", s.name)
			}
		})
	}
}

// duplicated writes a copy of a session with every event line delivered three
// times: again right after the original, and once more at the end of the
// session (a late redelivery, at the last clock).
func duplicated(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, late []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, session.MaxLineBytes)
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line)
		if strings.Contains(line, `"source":"eventhub"`) || strings.Contains(line, `"source":"eventgrid"`) {
			out = append(out, line)
			late = append(late, line)
		}
	}
	if len(late) == 0 {
		t.Fatalf("%s has no event line to duplicate", path)
	}
	out = append(out, late...)
	p := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A session whose every event is delivered three times tells the same, once
// each, as the session itself.
func TestDuplicatedEventsTellNobodyTwice(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"storage-replication", "exemption-expiry", "gov-storage-replication", "jit-overstay", "tls-public"} {
		t.Run(name, func(t *testing.T) {
			s := sessionCase{name: name, path: "testdata/sessions/" + name + ".ndjson"}
			if p := "testdata/sessions/" + name + ".policy.yaml"; fileExists(p) {
				s.policy = p
			}
			var told [2][3][]string
			for i, path := range []string{s.path, duplicated(t, s.path)} {
				tg := newTargets(t)
				db := filepath.Join(t.TempDir(), "notify.db")
				if _, errOut, err := runApp(t, tg.app(), "replay", "--store", "sqlite:"+db, "--policy", sessionPolicy(t, s), path); err != nil {
					t.Fatalf("%v\n%s", err, errOut)
				}
				checkTold(t, tg, db)
				told[i] = [3][]string{toldTeams(t, tg.teams.Requests()), toldSlack(t, tg.slack.Requests()), toldWebhook(t, tg.webhook.Requests())}
			}
			if diff := cmp.Diff(told[0], told[1]); diff != "" {
				t.Errorf("duplicated events changed what was told (-once +twice):\n%s", diff)
			}
			if len(told[0][2]) == 0 {
				t.Error("nothing was told")
			}
		})
	}
}

// Through the pipeline as serve wires it: a Teams target answering 500 twice
// and then 200 gets each card once; a Slack target that always fails leaves
// failed outbox items with the reason (naming the target, not the URL) and
// holds up neither Teams nor the webhook.
func TestPipelineRetriesAndKeepsFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := newTargets(t)
	teamsPosts := 0
	tg.teams.Respond = func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		teamsPosts++
		w.WriteHeader(http.StatusAccepted)
	}
	tg.slack.Respond = notifytest.Status(http.StatusInternalServerError)

	pol, err := policyfile.Parse([]byte(notifyYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs strings.Builder
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	arm := replay.NewARM(func() time.Time { return now })
	for _, l := range sessionLines(t, session.SourceARM) {
		if !strings.Contains(string(l.Body), "Standard_LRS") { // the state before the fix
			arm.Observe(l)
		}
	}
	pl, err := tg.app().newPipeline(st, arm, pol, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range sessionLines(t, session.SourceEventHub) {
		if _, err := pl.Ingest(ctx, guard.SourceEventHub, l.Body, now); err != nil {
			t.Fatal(err)
		}
	}
	opened := tg.webhook.Count()
	if opened == 0 {
		t.Fatal("no finding opened")
	}
	// Drive the dispatcher's clock on, a minute at a time, for two hours.
	for at := now.Add(time.Minute); at.Before(now.Add(2 * time.Hour)); at = at.Add(time.Minute) {
		if _, err := pl.Dispatcher.Run(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(toldTeams(t, tg.teams.Requests()[2:])); got != opened || teamsPosts != tg.teams.Count()-2 {
		t.Errorf("Teams: %d card(s) after two failures (%d accepted), want the %d transitions once each", got, teamsPosts, opened)
	}
	items, err := st.ListOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, it := range items {
		if it.Kind != notify.KindSlack || !it.Failed || it.LastError != "slack: HTTP 500 Internal Server Error: 500 Internal Server Error" {
			t.Errorf("outbox keeps %s item %s: failed %v, %q", it.Kind, it.ID, it.Failed, it.LastError)
			continue
		}
		failed++
	}
	if failed == 0 || tg.webhook.Count() != opened {
		t.Errorf("%d failed slack item(s), webhook told %d of %d", failed, tg.webhook.Count(), opened)
	}
	for _, secret := range []string{tg.teams.URL, tg.slack.URL, tg.webhook.URL, strings.TrimPrefix(tg.slack.URL, "http://"), "c2VjcmV0c2VjcmV0c2VjcmV0", "c2llbXNlY3JldGNvZGU", "Zm9vYmFyYmF6cXV4c2VjcmV0"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q, part of a webhook URL", secret)
		}
	}
}

func TestNotifyTestSendsASampleToEachTarget(t *testing.T) {
	t.Parallel()
	tg := newTargets(t)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("cloud: AzureUSGovernment\nallowedRegions: [usgovvirginia, usgovtexas]\n"+notifyYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runApp(t, tg.app(), "notify", "test", "--policy", pol)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if out != "teams: delivered (HTTP 200)\nslack: delivered (HTTP 200)\nwebhook: delivered (HTTP 200)\n" {
		t.Errorf("output:\n%s", out)
	}
	for name, srv := range map[string]*notifytest.Server{"teams": tg.teams, "slack": tg.slack} {
		reqs := srv.Requests()
		if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "https://portal.azure.us/#@/resource/subscriptions/") || !strings.Contains(string(reqs[0].Body), "exportguardtest") {
			t.Errorf("%s: %d request(s), want one sample with a Government portal link", name, len(reqs))
		}
	}
	var e event.Event
	if err := format.JSON.Unmarshal(tg.webhook.Requests()[0].Body, &e); err != nil || e.Type() != "com.exportguard.notify.test" || !strings.HasSuffix(e.Subject(), "/exportguardtest") {
		t.Errorf("webhook sample: type %q, %v", e.Type(), err)
	}

	// A failing target is reported by name, never by URL, and fails the command.
	tg.slack.Respond = func(_ int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service")
	}
	tg.webhook.Close()
	out, errOut, err = runApp(t, tg.app(), "notify", "test", "--policy", pol)
	if err == nil || err.Error() != "2 of 3 notification target(s) failed" {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out, "teams: delivered (HTTP 200)\n") || !strings.Contains(out, "slack: failed: HTTP 404 Not Found: no_service\n") ||
		!strings.Contains(out, "webhook: failed: no answer: ") {
		t.Errorf("output:\n%s", out)
	}
	for _, secret := range []string{tg.slack.URL, tg.webhook.URL, strings.TrimPrefix(tg.webhook.URL, "http://"), "T0EXPORTGD", "c2llbXNlY3JldGNvZGU"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("output shows %q, part of a webhook URL:\n%s%s", secret, out, errOut)
		}
	}
}

func TestNotifyTestRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	app := envApp(map[string]string{"EG_TEST_PLAIN_HTTP": "http://hooks.example.com/services/T0/B0/SECRETSECRETSECRET"})
	for _, tt := range []struct{ policy, want string }{
		{write("none.yaml", "cloud: AzureCloud\n"), "no notification target"},
		{write("unset.yaml", "notify: {teams: {url: env:EG_TEST_NOT_SET}}\n"), "notify.teams.url: environment variable EG_TEST_NOT_SET is not set"},
		{write("plain.yaml", "notify: {slack: {url: env:EG_TEST_PLAIN_HTTP}}\n"), "notify.slack.url: plain http is allowed only to a loopback address, in tests"},
	} {
		_, _, err := runApp(t, app, "notify", "test", "--policy", tt.policy)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", filepath.Base(tt.policy), err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error shows the URL: %v", err)
		}
	}
	// The pipeline refuses to start without its targets' URLs, too.
	if _, _, err := runApp(t, app, "replay", "--policy", filepath.Join(dir, "unset.yaml"), "testdata/sessions/storage-replication.ndjson"); err == nil ||
		!strings.Contains(err.Error(), "notify.teams.url: environment variable EG_TEST_NOT_SET is not set") {
		t.Errorf("replay with an unset target URL: %v", err)
	}
}

func TestNotifyVerbsHaveHelp(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"notify", "notify test"} {
		out, _, err := run(t, append(strings.Fields(verb), "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("exportguard %s --help: %v\n%s", verb, err, out)
		}
	}
}

// A remediation applied (or failed) is told once to every target, however often
// the session is replayed over the same store.
func TestRemediationOutcomesAreToldOnce(t *testing.T) {
	t.Parallel()
	var s sessionCase
	for _, x := range sessions(t) {
		if x.name == "remediation-auto" {
			s = x
		}
	}
	if s.name == "" {
		t.Fatal("no remediation-auto session")
	}
	tg := newTargets(t)
	db := filepath.Join(t.TempDir(), "outcomes.db")
	args := []string{"replay", "--store", "sqlite:" + db, "--policy", sessionPolicy(t, s), s.path}
	outcomes := func() (applied int, told int) {
		st, err := sqlite.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		recs, err := trailEvents(st)
		if err != nil {
			t.Fatal(err)
		}
		plans := map[string]bool{}
		for _, r := range recs {
			if r.Kind == "remediation.applied" || r.Kind == "remediation.failed" {
				var d struct{ PlanID string }
				if err := json.Unmarshal(r.Data, &d); err != nil {
					t.Fatal(err)
				}
				plans[d.PlanID] = true
			}
		}
		for _, r := range tg.webhook.Requests() {
			var e event.Event
			if err := format.JSON.Unmarshal(r.Body, &e); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(e.Type(), ".remediation.") {
				told++
			}
		}
		return len(plans), told
	}
	for i := 1; i <= 2; i++ {
		if _, errOut, err := runApp(t, tg.app(), args...); err != nil {
			t.Fatalf("replay %d: %v\n%s", i, err, errOut)
		}
		applied, told := outcomes()
		if applied == 0 || told != applied {
			t.Errorf("after replay %d: %d remediation outcome(s) recorded, %d told to the webhook; want each told once", i, applied, told)
		}
	}
}
