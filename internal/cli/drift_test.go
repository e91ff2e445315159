package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/recorder/recordertest"
)

// What the command line says matches what the project is (issue 18, documents
// drift): the verb named in an error is the one that ran, the consumer group
// record reads as is the one infra/ keeps for it, the notification settings
// have one name each, and a plan on a replayed store can be decided.

func TestExistingStoreErrorsNameTheVerbRun(t *testing.T) {
	t.Parallel()
	missing := "sqlite:" + filepath.Join(t.TempDir(), "missing.db")
	verbs := []string{"audit", "report", "remediate"}
	for _, tc := range []struct {
		verb string
		args []string
	}{
		{"audit", []string{"audit", "verify", "--store", missing}},
		{"audit", []string{"audit", "export", "--store", missing}},
		{"report", []string{"report", "--store", missing}},
		{"remediate", []string{"remediate", "list", "--store", missing}},
		{"remediate", []string{"remediate", "approve", "x", "--reason", "r", "--store", missing}},
		{"remediate", []string{"remediate", "deny", "x", "--reason", "r", "--store", missing}},
		{"remediate", []string{"remediate", "run", "--store", missing}},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			_, _, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), "("+tc.verb+" reads an existing store") {
				t.Fatalf("%s: %v; want it to say %s reads an existing store", strings.Join(tc.args, " "), err, tc.verb)
			}
			for _, other := range verbs {
				if other != tc.verb && strings.Contains(err.Error(), other+" reads") {
					t.Errorf("%s: %v names %s", strings.Join(tc.args, " "), err, other)
				}
			}
		})
	}
}

// record reads, unless told otherwise, as the consumer group infra/eventhubs.tf
// creates for it, never $Default (shared with every other reader) nor the
// function app's.
func TestRecordReadsAsInfrasRecordConsumerGroup(t *testing.T) {
	t.Parallel()
	tf, err := os.ReadFile("infra/eventhubs.tf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)resource "azurerm_eventhub_consumer_group" "record" \{\s*name\s*=\s*"([^"]+)"`).FindSubmatch(tf)
	if m == nil {
		t.Fatal(`infra/eventhubs.tf: no azurerm_eventhub_consumer_group "record" with a literal name`)
	}
	want := string(m[1])
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var got eventhubs.ConsumerOptions
	app := azureApp(map[string]string{})
	app.OpenReceiver = func(_ context.Context, _ eventhubs.Target, o eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
		got = o
		return &ehtest.Receiver{Steps: []ehtest.Step{{Events: []eventhubs.Event{
			recordertest.Message(t, t0, recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))}}}}, nil
	}
	arm := &recordertest.FakeARM{}
	arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_LRS", "eastus", ""))
	app.ARMReader = func(string) (guard.ResourceReader, error) { return arm, nil }
	_, errOut, err := runApp(t, app, "record", "--eventhub", "guard-eh/insights-activity-logs", "-o", filepath.Join(t.TempDir(), "s.ndjson"))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if got.ConsumerGroup != want {
		t.Errorf("record read as consumer group %q; infra/ creates %q for it", got.ConsumerGroup, want)
	}
	if !strings.Contains(errOut, "(consumer group "+want+",") {
		t.Errorf("stderr does not say the consumer group it reads as:\n%s", errOut)
	}
	help, _, _ := run(t, "record", "--help")
	if !strings.Contains(help, "(default \""+want+"\")") {
		t.Errorf("record --help does not give %s as the default:\n%s", want, help)
	}
}

// A deployment made before the settings had one name has TEAMS_WEBHOOK_URL
// (and a policy that may name it): either name is read for the other, with a
// warning that says what to rename; the new name alone needs no warning.
func TestNotifyURLSettingReadUnderEitherName(t *testing.T) {
	t.Parallel()
	srv := notifytest.NewServer(t)
	url := srv.URL + notifytest.SecretPath
	for _, tc := range []struct {
		name    string
		policy  string            // the env:NAME the policy reads
		env     map[string]string // the settings there are
		warn    string            // a part of the warning; "" for none
		failure string            // a part of the error; "" for delivered
	}{
		{"new name", "EXPORTGUARD_TEAMS_URL", map[string]string{"EXPORTGUARD_TEAMS_URL": url}, "", ""},
		{"deployment still has the old setting", "EXPORTGUARD_TEAMS_URL", map[string]string{"TEAMS_WEBHOOK_URL": url}, "rename the setting EXPORTGUARD_TEAMS_URL", ""},
		{"policy still names the old setting", "TEAMS_WEBHOOK_URL", map[string]string{"EXPORTGUARD_TEAMS_URL": url}, "write env:EXPORTGUARD_TEAMS_URL in the policy", ""},
		{"old name in both", "TEAMS_WEBHOOK_URL", map[string]string{"TEAMS_WEBHOOK_URL": url}, "", ""},
		{"neither", "EXPORTGUARD_TEAMS_URL", map[string]string{}, "", "environment variable EXPORTGUARD_TEAMS_URL is not set"},
		{"a name of the user's own", "MY_TEAMS", map[string]string{"EXPORTGUARD_TEAMS_URL": url}, "", "environment variable MY_TEAMS is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(pol, []byte("notify:\n  teams: {url: env:"+tc.policy+"}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, err := runApp(t, envApp(tc.env), "notify", "test", "--policy", pol)
			switch {
			case tc.failure != "":
				if err == nil || !strings.Contains(err.Error(), tc.failure) {
					t.Errorf("err = %v, want %q", err, tc.failure)
				}
			case err != nil || out != "teams: delivered (HTTP 200)\n":
				t.Errorf("notify test: %v\n%s%s", err, out, errOut)
			}
			if tc.warn == "" && strings.Contains(errOut, "deprecated") || tc.warn != "" && !strings.Contains(errOut, tc.warn) {
				t.Errorf("stderr %q, want a warning with %q", errOut, tc.warn)
			}
			if strings.Contains(out+errOut, srv.URL) || strings.Contains(out+errOut, notifytest.SecretPath) {
				t.Errorf("the URL is shown:\n%s%s", out, errOut)
			}

			// doctor says the same, by name.
			https := map[string]string{} // doctor reads the URL, never calls it: https, as it requires
			for k := range tc.env {
				https[k] = "https://hooks.example.invalid" + notifytest.SecretPath
			}
			docOut, _, _ := runApp(t, envApp(https), "doctor", "--policy", pol)
			line := ""
			for l := range strings.SplitSeq(docOut, "\n") {
				if strings.Contains(l, "notify") && strings.Contains(l, "teams") {
					line = l
				}
			}
			switch {
			case tc.failure != "":
				if !strings.HasPrefix(line, "FAIL") {
					t.Errorf("doctor: %q, want FAIL", line)
				}
			case tc.warn != "":
				if !strings.HasPrefix(line, "WARN") || !strings.Contains(line, tc.warn) {
					t.Errorf("doctor: %q, want WARN with %q", line, tc.warn)
				}
			case !strings.HasPrefix(line, "OK"):
				t.Errorf("doctor: %q, want OK", line)
			}
		})
	}
}

// A store filled by replay holds plans made at the session's clock, whose
// approval window closed by the wall clock: approve says so with the deadline
// and the --now to give (not "…: conflict"), and with --now the plan is
// approved and the next replay into the store carries it out.
func TestApproveOnAReplayedStore(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "approve.db")
	store := "sqlite:" + db
	app := testApp()
	app.Now = func() time.Time { return time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC) } // weeks after the session
	session, policy := "testdata/sessions/remediation-approve.ndjson", remApprove
	if _, errOut, err := runApp(t, app, "replay", "--store", store, "--policy", policy, session); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut)
	}
	cad := guard.FindingID(guard.RuleResidencyReplication, remItarcad, "")
	ftp := guard.FindingID(guard.RuleTransitTLS, remFTP, "")
	for _, tc := range []struct {
		name    string
		args    []string
		want    string // a part of stdout, or of the error when wantErr
		wantErr bool
		notErr  string
	}{
		{"expired by the wall clock", []string{"remediate", "approve", cad, "--reason", "CHG-1042", "--store", store}, "the plan expired unapproved at 2026-11-25T09:06:41Z (planned at 2026-11-18T09:06:41Z; the clock is 2026-12-06T09:00:00Z)", true, ": conflict"},
		{"the expired error says what to give", []string{"remediate", "approve", ftp, "--reason", "CHG-1043", "--store", store}, "decide at that clock, with --now 2026-11-18T09:11:33Z", true, ": conflict"},
		{"a --now that is no time", []string{"remediate", "approve", cad, "--reason", "CHG-1042", "--store", store, "--now", "yesterday"}, `--now "yesterday"`, true, ""},
		{"approved at the session's clock", []string{"remediate", "approve", cad, "--reason", "CHG-1042", "--store", store, "--now", "2026-11-18T10:00:00Z"}, "the approval expires at 2026-11-19T10:00:00Z", false, ""},
		{"approved twice", []string{"remediate", "approve", cad, "--reason", "again", "--store", store, "--now", "2026-11-18T10:01:00Z"}, "the plan does not await a decision", true, ": conflict"},
		{"no such plan", []string{"remediate", "approve", "0123456789abcdef0123456789abcdef", "--reason", "x", "--store", store, "--now", "2026-11-18T10:01:00Z"}, "no remediation plan of that finding or ID", true, ": not found"},
		{"denied at the session's clock", []string{"remediate", "deny", ftp, "--reason", "licence D-1187 covers it", "--store", store, "--now", "2026-11-18T10:00:00Z"}, "denied by ", false, ""},
	} {
		out, _, err := runApp(t, app, tc.args...)
		switch {
		case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.want)
		case tc.wantErr && tc.notErr != "" && strings.Contains(err.Error(), tc.notErr):
			t.Errorf("%s: %v: the api's status word is no message for a terminal", tc.name, err)
		case !tc.wantErr && (err != nil || !strings.Contains(out, tc.want)):
			t.Errorf("%s: %v\n%s\nwant %q", tc.name, err, out, tc.want)
		}
	}
	_, errOut, err := runApp(t, app, "replay", "--store", store, "--policy", policy, session)
	if err != nil || !strings.Contains(errOut, "1 remediation write(s) to the session's ARM") {
		t.Fatalf("the replay after the approval: %v\n%s", err, errOut)
	}
	out, _, err := runApp(t, app, "replay", "--store", store, "--policy", policy, "--format", "json", session)
	if err != nil || !regexp.MustCompile(`"id":"`+cad+`"[^\n]*"status":"resolved"`).MatchString(out) {
		t.Errorf("itarcad's replication finding is not resolved after its plan ran: %v\n%s", err, out)
	}
}
