package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/session"
)

// eventHubBodies lists a session's eventhub bodies, in order, as JSON values.
func eventHubBodies(t *testing.T, paths ...string) []any {
	t.Helper()
	var out []any
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(raw, []byte("\n")) {
			l, err := session.Parse(line)
			if err != nil || l.Source != session.SourceEventHub {
				continue
			}
			var v any
			if err := json.Unmarshal(l.Body, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
	}
	return out
}

func sentBodies(t *testing.T, s *ehtest.Sender) []any {
	t.Helper()
	var out []any
	for _, b := range s.Bodies() {
		var v any
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Fatalf("a message sent is not JSON: %q", b)
		}
		out = append(out, v)
	}
	return out
}

func TestPublishSessionsInOrderInBatches(t *testing.T) {
	t.Parallel()
	paths := []string{"testdata/sessions/storage-replication.ndjson", "testdata/sessions/tls-public.ndjson", "testdata/sessions/malformed-lines.ndjson"}
	want := eventHubBodies(t, paths...)
	// A limit that holds two or three of these messages: several batches.
	s := &ehtest.Sender{MaxBytes: 12_000, Overhead: 16}
	pub := &eventhubs.Publisher{Sender: s}
	var errs bytes.Buffer
	st, err := publishSessions(context.Background(), pub, paths, &errs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sentBodies(t, s)); diff != "" {
		t.Errorf("messages sent differ from the sessions' eventhub lines, in order (-want +got):\n%s", diff)
	}
	if n := len(s.Batches()); n < 3 || n >= len(want) {
		t.Errorf("%d messages went in %d batches; want them packed into several", len(want), n)
	}
	for i, b := range s.Batches() {
		size := 0
		for _, e := range b {
			size += len(e.Body) + 16
		}
		if size > 12_000 {
			t.Errorf("batch %d holds %d bytes, over the limit", i, size)
		}
	}
	if st.messages != len(want) || st.skipped[session.SourceARM] == 0 || st.skipped[session.SourceEventGrid] == 0 || st.skipped[session.SourceClock] == 0 {
		t.Errorf("stats %+v", st)
	}
	if st.bad != 2 || !strings.Contains(errs.String(), "malformed-lines.ndjson:2: not a JSON object") {
		t.Errorf("malformed lines: %d, %q", st.bad, errs.String())
	}
}

// Ctrl-C while publishing stops between batches: what was sent is whole and in
// order, nothing after it is sent, and the stop is an error (not everything went).
func TestPublishSessionsCancelled(t *testing.T) {
	t.Parallel()
	paths := []string{"testdata/sessions/storage-replication.ndjson"}
	want := eventHubBodies(t, paths...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &ehtest.Sender{MaxBytes: 6_000}
	pub := &eventhubs.Publisher{Sender: s, Sent: func(int) { cancel() }}
	_, err := publishSessions(ctx, pub, paths, &bytes.Buffer{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancellation", err)
	}
	got := sentBodies(t, s)
	if len(s.Batches()) != 1 || len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("sent %d batch(es), %d of %d messages", len(s.Batches()), len(got), len(want))
	}
	if diff := cmp.Diff(want[:len(got)], got); diff != "" {
		t.Errorf("what was sent is not the start of the session (-want +got):\n%s", diff)
	}
}

// runReplayToEventHub calls what replay --to-eventhub calls.
func runReplayToEventHub(t *testing.T, app *App, hub, policyPath string, sessions ...string) (string, error) {
	t.Helper()
	var errb bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&errb)
	cmd.SetContext(context.Background())
	err := app.replayToEventHub(cmd, hub, policyPath, sessions)
	return errb.String(), err
}

func TestReplayToEventHub(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	app := azureApp(env)
	var s *ehtest.Sender
	var gotTarget eventhubs.Target
	var gotOpts eventhubs.ProducerOptions
	app.OpenSender = func(tg eventhubs.Target, o eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		gotTarget, gotOpts = tg, o
		s = &ehtest.Sender{MaxBytes: 256 << 10}
		return s, nil
	}
	session := "testdata/sessions/gov-jit-overstay.ndjson"
	tests := []struct {
		hub, policy, wantNS, wantCloud string
	}{
		{"guard-eh/insights-activity-logs", "", "guard-eh.servicebus.windows.net", "AzureCloud"},
		{"guard-eh/insights-activity-logs", "testdata/sessions/gov-jit-overstay.policy.yaml", "guard-eh.servicebus.usgovcloudapi.net", "AzureUSGovernment"},
		{"guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs", "", "guard-eh.servicebus.usgovcloudapi.net", "AzureUSGovernment"},
	}
	for _, tt := range tests {
		errOut, err := runReplayToEventHub(t, app, tt.hub, tt.policy, session)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.hub, err, errOut)
		}
		if gotTarget.Namespace != tt.wantNS || gotTarget.Cloud != tt.wantCloud || gotTarget.Hub != "insights-activity-logs" {
			t.Errorf("%s with policy %q: target %+v", tt.hub, tt.policy, gotTarget)
		}
		if gotOpts.PartitionKey != publishPartitionKey || gotOpts.Credential == nil {
			t.Errorf("producer options %+v: want one partition key and a credential", gotOpts)
		}
		if diff := cmp.Diff(eventHubBodies(t, session), sentBodies(t, s)); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		if !s.Closed() || !strings.Contains(errOut, "published 2 message(s) in 1 batch(es) to "+tt.wantNS+"/insights-activity-logs") {
			t.Errorf("closed %v; stderr %q", s.Closed(), errOut)
		}
	}
	// The connection string, when set, is used instead of a credential.
	env[envEventHubConnectionString] = "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
	errOut, err := runReplayToEventHub(t, app, "localhost/insights-activity-logs", "", session)
	if err != nil {
		t.Fatal(err)
	}
	if gotOpts.ConnectionString == "" || gotOpts.Credential != nil || gotTarget.Namespace != "localhost" || gotTarget.Hub != "insights-activity-logs" {
		t.Errorf("with a connection string: %+v, %+v", gotTarget, gotOpts)
	}
	if !strings.Contains(errOut, "to localhost/insights-activity-logs") || strings.Contains(errOut, "SAS_KEY_VALUE") {
		t.Errorf("stderr %q", errOut)
	}
	env[envEventHubConnectionString] = "SharedAccessKey=SAS_KEY_VALUE"
	if _, err := runReplayToEventHub(t, app, "localhost/insights-activity-logs", "", session); err == nil || strings.Contains(err.Error(), "SAS_KEY_VALUE") {
		t.Errorf("a connection string without an endpoint: %v", err)
	}
}

func TestReplayToEventHubRefuses(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	app := azureApp(env)
	opened := false
	app.OpenSender = func(eventhubs.Target, eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		opened = true
		return &ehtest.Sender{}, nil
	}
	for _, c := range []struct{ hub, policy, session string }{
		{"guard-eh", "", "testdata/sessions/tls-public.ndjson"},
		{"guard-eh/h", "testdata/no-such-policy.yaml", "testdata/sessions/tls-public.ndjson"},
		{"guard-eh/h", "", "testdata/sessions/no-such-session.ndjson"},
	} {
		if _, err := runReplayToEventHub(t, app, c.hub, c.policy, c.session); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if opened {
		t.Error("a sender was opened for a command that could not run")
	}
	// A message larger than a batch stops the publishing with its line named.
	app.OpenSender = func(eventhubs.Target, eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		return &ehtest.Sender{MaxBytes: 100}, nil
	}
	big := filepath.Join(t.TempDir(), "big.ndjson")
	os.WriteFile(big, []byte(`{"source":"eventhub","enqueuedTime":"2026-11-02T09:00:00Z","body":{"records":[{"pad":"`+strings.Repeat("x", 200)+`"}]}}`+"\n"), 0o644)
	errOut, err := runReplayToEventHub(t, app, "guard-eh/h", "", big)
	if !errors.Is(err, eventhubs.ErrTooLarge) || !strings.Contains(err.Error(), "big.ndjson:1") || !strings.Contains(errOut, "stopped after 0 message(s)") {
		t.Errorf("err = %v; stderr %q", err, errOut)
	}
}

// replay --to-eventhub publishes instead of replaying: nothing is judged, the
// eventhub lines go to the hub in order.
func TestReplayVerbToEventHub(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	app := azureApp(env)
	s := &ehtest.Sender{MaxBytes: 256 << 10}
	var gotTarget eventhubs.Target
	app.OpenSender = func(tg eventhubs.Target, _ eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		gotTarget = tg
		return s, nil
	}
	sessions := []string{"testdata/sessions/storage-replication.ndjson", "testdata/sessions/gov-jit-overstay.ndjson"}
	out, errOut, err := runApp(t, app, append([]string{"replay", "--to-eventhub", "guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs"}, sessions...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if out != "" {
		t.Errorf("stdout %q: publishing prints no findings", out)
	}
	if gotTarget.Namespace != "guard-eh.servicebus.usgovcloudapi.net" || gotTarget.Cloud != "AzureUSGovernment" {
		t.Errorf("target %+v", gotTarget)
	}
	if diff := cmp.Diff(eventHubBodies(t, sessions...), sentBodies(t, s)); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	help, _, _ := runApp(t, app, "replay", "--help")
	if !strings.Contains(help, "--to-eventhub") {
		t.Error("replay --help does not show --to-eventhub")
	}
}
