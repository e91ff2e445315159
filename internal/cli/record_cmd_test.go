package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/recorder/recordertest"
)

func TestResolveEventHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s, flag, pol, wantNS, wantCloud, wantErr string
	}{
		{"guard-eh/insights-activity-logs", "", "AzureCloud", "guard-eh.servicebus.windows.net", "AzureCloud", ""},
		{"guard-eh/insights-activity-logs", "", "AzureUSGovernment", "guard-eh.servicebus.usgovcloudapi.net", "AzureUSGovernment", ""},
		{"guard-eh/insights-activity-logs", "AzureUSGovernment", "AzureCloud", "guard-eh.servicebus.usgovcloudapi.net", "AzureUSGovernment", ""},
		// A host name names its cloud, whatever the (default) policy says.
		{"guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs", "", "AzureCloud", "guard-eh.servicebus.usgovcloudapi.net", "AzureUSGovernment", ""},
		{"guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs", "AzureCloud", "", "", "", "is in AzureUSGovernment"},
	}
	for _, tt := range tests {
		got, err := resolveEventHub(tt.s, tt.flag, tt.pol)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("resolveEventHub(%q, %q, %q): %v, want %q", tt.s, tt.flag, tt.pol, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Namespace != tt.wantNS || got.Cloud != tt.wantCloud || got.Hub != "insights-activity-logs" {
			t.Errorf("resolveEventHub(%q, %q, %q) = %+v, %v", tt.s, tt.flag, tt.pol, got, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"2026-11-02T09:00:00-05:00": time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"PT2H":                      now.Add(-2 * time.Hour),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", "0s"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// The command, with the hub and ARM replaced by fakes: a Gov host name reaches
// the consumer as it is, with the options given; the session is written.
func TestRecordCommand(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	arm := &recordertest.FakeARM{}
	arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_RAGRS", "usgovvirginia", "usgovtexas"))
	var gotTarget eventhubs.Target
	var gotOpts eventhubs.ConsumerOptions
	var armCloud string
	env := map[string]string{}
	app := azureApp(env)
	app.OpenReceiver = func(_ context.Context, tg eventhubs.Target, o eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
		gotTarget, gotOpts = tg, o
		return &ehtest.Receiver{Steps: []ehtest.Step{{Events: []eventhubs.Event{
			recordertest.Message(t, t0, recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))}}}}, nil
	}
	app.ARMReader = func(cloudName string) (guard.ResourceReader, error) {
		armCloud = cloudName
		return arm, nil
	}
	out := filepath.Join(t.TempDir(), "gov.ndjson")
	_, errOut, err := runApp(t, app, "record", "--eventhub", "guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs",
		"--consumer-group", "exportguard-record", "--since", "2026-11-02T08:00:00Z", "-o", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if gotTarget.Namespace != "guard-eh.servicebus.usgovcloudapi.net" || gotTarget.Hub != "insights-activity-logs" || gotTarget.Cloud != "AzureUSGovernment" {
		t.Errorf("target %+v", gotTarget)
	}
	if gotOpts.ConsumerGroup != "exportguard-record" || !gotOpts.Since.Equal(t0.Add(-time.Hour)) || gotOpts.Credential == nil {
		t.Errorf("consumer options %+v", gotOpts)
	}
	if armCloud != "AzureUSGovernment" {
		t.Errorf("ARM read in %q, want the hub's cloud", armCloud)
	}
	if lines := recordertest.SessionLines(t, out); len(lines) != 2 || lines[0].Source != "arm" || lines[1].Source != "eventhub" {
		t.Errorf("session %+v", lines)
	}
	for _, want := range []string{"recording guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs", "recorded to " + out + ": 1 message(s), 1 arm line(s)", "replay will find: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// What record says replay will find is what exportguard replay finds.
	replayed, _, err := run(t, "replay", "--format", "json", out)
	if err != nil {
		t.Fatal(err)
	}
	n := map[any]int{}
	fs := recordertest.DecodeFindings(t, replayed)
	for _, f := range fs {
		n[f["status"]]++
	}
	if want := fmt.Sprintf("replay will find: %d finding(s), %d open, %d resolved, %d exempt\n", len(fs), n["open"], n["resolved"], n["exempt"]); len(fs) == 0 || !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	// The file exists now: refused without --force, overwritten with it.
	if _, _, err := runApp(t, app, "record", "--eventhub", "guard-eh/h", "-o", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing file: %v", err)
	}
	if _, _, err := runApp(t, app, "record", "--eventhub", "guard-eh/h", "-o", out, "--force"); err != nil {
		t.Errorf("--force: %v", err)
	}
	// The emulator's connection string names the namespace, and replaces the credential for the hub.
	env[envEventHubConnectionString] = "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
	if _, _, err := runApp(t, app, "record", "--eventhub", "localhost/insights-activity-logs", "-o", out, "--force"); err != nil {
		t.Fatal(err)
	}
	if gotTarget.Namespace != "localhost" || gotOpts.ConnectionString == "" {
		t.Errorf("with a connection string: %+v, %+v", gotTarget, gotOpts)
	}
	env[envEventHubConnectionString] = ""
	// A hub that cannot be opened leaves no file behind.
	app.OpenReceiver = func(context.Context, eventhubs.Target, eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
		return nil, errors.New("amqp: unauthorized")
	}
	none := filepath.Join(t.TempDir(), "none.ndjson")
	if _, _, err := runApp(t, app, "record", "--eventhub", "guard-eh/h", "-o", none); err == nil || fileExists(none) {
		t.Errorf("failed open: %v, file left: %v", err, fileExists(none))
	}
}

func TestRecordRefusesBadArguments(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	app := azureApp(env)
	out := filepath.Join(t.TempDir(), "x.ndjson")
	for _, args := range [][]string{
		{"record", "-o", out},
		{"record", "--eventhub", "guard-eh/h"},
		{"record", "--eventhub", "guard-eh", "-o", out},
		{"record", "--eventhub", "guard-eh/h", "--since", "yesterday", "-o", out},
		{"record", "--eventhub", "guard-eh/h", "--cloud", "AzureChinaCloud", "-o", out},
		{"record", "--eventhub", "x.servicebus.usgovcloudapi.net/h", "--cloud", "AzureCloud", "-o", out},
		{"record", "--eventhub", "guard-eh/h", "--policy", "testdata/no-such-policy.yaml", "-o", out},
		{"record", "--eventhub", "guard-eh/h", "-o", out, "extra"},
	} {
		if _, _, err := runApp(t, app, args...); err == nil {
			t.Errorf("exportguard %s: want an error", strings.Join(args, " "))
		}
	}
	if fileExists(out) {
		t.Error("a refused command left a file")
	}
	help, _, err := runApp(t, app, "record", "--help")
	if err != nil || !strings.Contains(help, "Usage:") || !strings.Contains(help, "--consumer-group") {
		t.Errorf("record --help: %v\n%s", err, help)
	}
}

// swapAzureSeams makes the Azure seams fail loudly unless a test sets them.
// azureApp is an App whose settings are env and whose Azure fails loudly
// unless a test sets it: a hub with nothing to receive, no sender, an empty ARM.
func azureApp(env map[string]string) *App {
	app := envApp(env)
	app.OpenReceiver = func(context.Context, eventhubs.Target, eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
		return &ehtest.Receiver{}, nil
	}
	app.OpenSender = func(eventhubs.Target, eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		return nil, errors.New("test: no sender")
	}
	app.ARMReader = func(string) (guard.ResourceReader, error) { return &recordertest.FakeARM{}, nil }
	return app
}
