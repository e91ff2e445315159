package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
)

const (
	recSub     = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	recAccount = "/subscriptions/" + recSub + "/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer"
)

// recActivityRecord is one Activity Log record as a diagnostic setting streams it.
func recActivityRecord(id, op, result, correlation string, at time.Time) map[string]any {
	return map[string]any{
		"time": at.Format(time.RFC3339Nano), "resourceId": id, "operationName": op,
		"category": "Administrative", "resultType": result, "correlationId": correlation,
		"identity": map[string]any{"claims": map[string]any{
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "bob.okafor@contoso.com"}},
		"level": "Information", "location": "global",
	}
}

// message is an Event Hubs message holding records, pretty-printed as some
// producers send them (the session line must still be one line).
func recMessage(t *testing.T, enqueued time.Time, records ...map[string]any) eventhubs.Event {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"records": records}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return eventhubs.Event{Body: b, EnqueuedTime: enqueued, PartitionID: "1", SequenceNumber: 42}
}

func recStorageBody(id, sku, location, secondary string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"name":"partnerxfer","type":"Microsoft.Storage/storageAccounts","location":%q,
  "sku":{"name":%q,"tier":"Standard"},"kind":"StorageV2",
  "properties":{"primaryLocation":%q,"secondaryLocation":%q,"statusOfPrimary":"available","minimumTlsVersion":"TLS1_2",
  "supportsHttpsTrafficOnly":true,"encryption":{"keySource":"Microsoft.Storage"}}}`, id, location, sku, location, secondary))
}

// recFakeARM answers reads from bodies set by the test, counting reads.
type recFakeARM struct {
	mu     sync.Mutex
	bodies map[string][]byte
	fail   map[string]error
	reads  []string
	onRead func(id string)
}

func (f *recFakeARM) set(id string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bodies == nil {
		f.bodies = map[string][]byte{}
	}
	if body == nil {
		delete(f.bodies, guard.IDKey(id))
		return
	}
	f.bodies[guard.IDKey(id)] = body
}

func (f *recFakeARM) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	f.mu.Lock()
	f.reads = append(f.reads, id)
	body, ok := f.bodies[guard.IDKey(id)]
	err := f.fail[guard.IDKey(id)]
	hook := f.onRead
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("GET %s: %w", id, guard.ErrNotFound)
	}
	return guard.NewResource(body, time.Now())
}

func (f *recFakeARM) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

// recSessionLines reads a session and checks that every line is whole.
func recSessionLines(t *testing.T, path string) []session.Line {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("%s ends in a torn line: %q", path, raw[max(0, len(raw)-80):])
	}
	var out []session.Line
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if line == "" {
			continue
		}
		l, err := session.Parse([]byte(line))
		if err != nil {
			t.Fatalf("%s:%d: %v: %q", path, i+1, err, line)
		}
		out = append(out, l)
	}
	return out
}

func newTestRecorder(t *testing.T, recv eventhubs.Receiver, live guard.ResourceReader, pol *guard.Policy, schedule bool) (*recorder, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.ndjson")
	out, err := session.Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	if pol == nil {
		pol = policyfile.Default()
	}
	log, _ := newLogger(io.Discard, "error", true)
	r := &recorder{Receiver: recv, Live: live, Policy: pol, Out: out, Log: log, Warn: io.Discard,
		Start: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), MinWait: 10 * time.Second, MaxWait: 10 * time.Second}
	if schedule {
		s, err := testApp().sweepSchedule()
		if err != nil {
			t.Fatal(err)
		}
		r.Schedule = s
		if r.Reconcile, err = testApp().reconcileSchedule(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(r.Close)
	return r, path
}

// recStoreFindings lists a store's findings as replay --format json prints them,
// decoded, sorted by resourceId then rule.
func recStoreFindings(t *testing.T, st guard.Store) []map[string]any {
	t.Helper()
	fs, err := st.ListFindings(context.Background(), guard.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range fs {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	return recDecodeFindings(t, buf.String())
}

func recDecodeFindings(t *testing.T, out string) []map[string]any {
	t.Helper()
	var fs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("finding line %q: %v", sc.Text(), err)
		}
		fs = append(fs, m)
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := guard.IDKey(fs[i]["resourceId"].(string)), guard.IDKey(fs[j]["resourceId"].(string))
		if a != b {
			return a < b
		}
		return fs[i]["rule"].(string) < fs[j]["rule"].(string)
	})
	return fs
}

// Each succeeded change gets an arm line, read when its message is recorded,
// written before the message, at the message's enqueued time; started and
// failed operations get none; the message is one compact line.
func TestRecordWritesAnARMLinePerSucceededChange(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 20, 0, 0, time.UTC)
	arm := &recFakeARM{}
	arm.set(recAccount, recStorageBody(recAccount, "Standard_RAGRS", "westeurope", "northeurope"))
	other := strings.Replace(recAccount, "partnerxfer", "failedacct", 1)
	arm.set(other, recStorageBody(other, "Standard_GRS", "westeurope", "northeurope"))
	m1 := recMessage(t, t0.Add(100*time.Second),
		recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Start", "c-1", t0),
		recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0.Add(2*time.Second)),
		recActivityRecord(other, "Microsoft.Storage/storageAccounts/write", "Failure", "c-2", t0.Add(3*time.Second)))
	m2 := recMessage(t, t0.Add(40*time.Minute),
		recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-3", t0.Add(39*time.Minute)))
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{m1}},
		{Events: []eventhubs.Event{m2}, Before: func() {
			arm.set(recAccount, recStorageBody(recAccount, "Standard_LRS", "westeurope", ""))
		}},
	}}
	rec, path := newTestRecorder(t, recv, arm, nil, false)
	if err := rec.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rec.Out.Close(); err != nil {
		t.Fatal(err)
	}
	lines := recSessionLines(t, path)
	var got []string
	for _, l := range lines {
		got = append(got, l.Source+"@"+l.At.Format("15:04:05")+" "+l.ID)
	}
	want := []string{
		"arm@09:21:40 " + recAccount,
		"eventhub@09:21:40 ",
		"arm@10:00:00 " + recAccount,
		"eventhub@10:00:00 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("session lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(lines[0].Body), "Standard_RAGRS") || !strings.Contains(string(lines[2].Body), "Standard_LRS") {
		t.Errorf("arm lines do not hold the state read when each message was recorded:\n%s\n%s", lines[0].Body, lines[2].Body)
	}
	if n := arm.readCount(); n != 2 {
		t.Errorf("ARM read %d times, want 2 (the Start and the failed write are not read): %v", n, arm.reads)
	}
	// The message is written as it came, compacted to one line.
	var orig, written any
	json.Unmarshal(m1.Body, &orig)
	json.Unmarshal(lines[1].Body, &written)
	if !cmp.Equal(orig, written) {
		t.Errorf("eventhub body differs from the message:\n%s", cmp.Diff(orig, written))
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"readAt":"`, `"partitionId":"1"`, `"sequenceNumber":42`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("session lacks %s", want)
		}
	}
	if s := rec.Stats(); s.Messages != 2 || s.ARMLines != 2 || s.ClockLines != 0 {
		t.Errorf("stats %+v", s)
	}
	// The recorder judged what replay will: an open replication finding, then resolved.
	if s := rec.FindingsSummary(context.Background()); !strings.Contains(s, "1 resolved") {
		t.Errorf("recorder's findings: %s", s)
	}
	out, _, err := run(t, "replay", "--format", "json", path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), recDecodeFindings(t, out)); diff != "" {
		t.Errorf("replay of the recording differs from what the recorder found (-recorder +replay):\n%s", diff)
	}
}

// A resource ARM says is gone gets a deleted line when the session knew it; a
// resource ARM cannot read is reported and answered from the session.
func TestRecordDeletedAndUnreadableResources(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	arm := &recFakeARM{}
	arm.set(recAccount, recStorageBody(recAccount, "Standard_RAGRS", "westeurope", "northeurope"))
	boom := errors.New("403 AuthorizationFailed")
	odd := "/subscriptions/" + recSub + "/resourceGroups/rg/providers/Microsoft.Contoso/widgets/w1"
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{recMessage(t, t0, recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))}},
		{Events: []eventhubs.Event{recMessage(t, t0.Add(time.Minute), recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-2", t0))},
			Before: func() { arm.fail = map[string]error{guard.IDKey(recAccount): boom} }},
		{Events: []eventhubs.Event{recMessage(t, t0.Add(2*time.Minute), recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-3", t0))},
			Before: func() { arm.fail = nil; arm.set(recAccount, nil) }},
		// A type ARM cannot be asked for is no failure: no verdict, as live.
		{Events: []eventhubs.Event{recMessage(t, t0.Add(3*time.Minute), recActivityRecord(odd, "Microsoft.Contoso/widgets/write", "Success", "c-4", t0))},
			Before: func() {
				arm.fail = map[string]error{guard.IDKey(odd): fmt.Errorf("no api-version: %w", guard.ErrUnsupported)}
			}},
	}}
	rec, path := newTestRecorder(t, recv, arm, nil, false)
	var warn bytes.Buffer
	rec.Warn = &warn
	if err := rec.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.Out.Close()
	var got []string
	for _, l := range recSessionLines(t, path) {
		got = append(got, fmt.Sprintf("%s@%s deleted=%v", l.Source, l.At.Format("15:04"), l.Deleted))
	}
	want := []string{"arm@09:00 deleted=false", "eventhub@09:00 deleted=false", "eventhub@09:01 deleted=false",
		"arm@09:02 deleted=true", "eventhub@09:02 deleted=false", "eventhub@09:03 deleted=false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(warn.String(), "could not read "+recAccount+": 403 AuthorizationFailed") || strings.Contains(warn.String(), "widgets") {
		t.Errorf("warning: %q", warn.String())
	}
	if rec.Stats().Unread != 1 {
		t.Errorf("stats %+v", rec.Stats())
	}
	out, _, err := run(t, "replay", "--format", "json", path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), recDecodeFindings(t, out)); diff != "" {
		t.Errorf("replay differs from the recorder (-recorder +replay):\n%s", diff)
	}
}

// Ctrl-C in the middle of a message's reads leaves that message out, whole;
// every line before it is intact, the file ends in a newline, and it is closed
// cleanly. Ctrl-C while waiting for messages is a clean stop too.
func TestRecordCancelledMidwayLeavesNoTornLine(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, during := range []string{"read", "receive"} {
		t.Run(during, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			arm := &recFakeARM{}
			arm.set(recAccount, recStorageBody(recAccount, "Standard_RAGRS", "westeurope", "northeurope"))
			var steps []ehtest.Step
			for i := 0; i < 5; i++ {
				steps = append(steps, ehtest.Step{Events: []eventhubs.Event{
					recMessage(t, t0.Add(time.Duration(i)*time.Minute), recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", fmt.Sprintf("c-%d", i), t0)),
					recMessage(t, t0.Add(time.Duration(i)*time.Minute+time.Second), recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Start", fmt.Sprintf("d-%d", i), t0)),
				}})
			}
			reads := 0
			switch during {
			case "read":
				arm.onRead = func(string) {
					if reads++; reads == 3 {
						cancel() // Ctrl-C while the third message's resource is read
					}
				}
			case "receive":
				steps[3].Before = cancel
			}
			recv := &ehtest.Receiver{Steps: steps, Block: true}
			rec, path := newTestRecorder(t, recv, arm, nil, false)
			if err := rec.Run(ctx); err != nil {
				t.Fatalf("a stop is not an error: %v", err)
			}
			if err := rec.Out.Close(); err != nil {
				t.Fatal(err)
			}
			lines := recSessionLines(t, path)
			var got []string
			for _, l := range lines {
				got = append(got, l.Source)
			}
			want := "arm eventhub eventhub arm eventhub eventhub"
			if during == "receive" {
				want += " arm eventhub eventhub"
			}
			if strings.Join(got, " ") != want {
				t.Errorf("lines %v, want %s", got, want)
			}
			st := rec.Stats()
			if during == "read" && st.Dropped != 2 {
				t.Errorf("dropped %d, want the 2 messages of the interrupted batch", st.Dropped)
			}
			if !strings.Contains(st.String(), fmt.Sprintf("%d message(s)", st.Messages)) {
				t.Errorf("stats text %q", st)
			}
		})
	}
}

// A write that fails part-way is cut back off: the file never ends in a torn line.
// The sweep timer: a clock line at every tick the messages' enqueued times
// pass, and at every tick the wall clock passes while the hub is quiet, each
// after what its sweep read; replay then sweeps exactly there. The sweep
// reads only what is due: an account fixed with no event is the reconcile's.
func TestRecordWritesClockLinesAtSweepTicks(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 1, 0, 0, time.UTC)
	arm := &recFakeARM{}
	arm.set(recAccount, recStorageBody(recAccount, "Standard_RAGRS", "westeurope", "northeurope"))
	var wall time.Time
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{recMessage(t, t0, recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))},
			Before: func() { wall = t0 }},
		{Events: []eventhubs.Event{recMessage(t, t0.Add(11*time.Minute), recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-2", t0))},
			Before: func() { wall = t0.Add(11 * time.Minute) }},
		// Quiet: the wall clock passes 09:15 and 09:20; the account is fixed meanwhile.
		{Idle: true, Before: func() {
			wall = t0.Add(20 * time.Minute)
			arm.set(recAccount, recStorageBody(recAccount, "Standard_LRS", "westeurope", ""))
		}},
	}}
	rec, path := newTestRecorder(t, recv, arm, nil, true)
	rec.Now = func() time.Time { return wall }
	rec.Start = t0
	if err := rec.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.Out.Close()
	var got []string
	for _, l := range recSessionLines(t, path) {
		got = append(got, l.Source+"@"+l.At.Format("15:04:05"))
	}
	want := []string{
		"arm@09:01:00", "eventhub@09:01:00",
		"clock@09:05:00", "clock@09:10:00", // the second message's time passes two ticks; the sweeps re-read, nothing changed
		"arm@09:12:00", "eventhub@09:12:00",
		"clock@09:15:00", "clock@09:20:00", // quiet: the wall clock's ticks; the sweeps read nothing (nothing is due)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
	out, _, err := run(t, "replay", "--format", "json", path)
	if err != nil {
		t.Fatal(err)
	}
	rf := recDecodeFindings(t, out)
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), rf); diff != "" {
		t.Errorf("replay differs from the recorder (-recorder +replay):\n%s", diff)
	}
	open := false
	for _, f := range rf {
		open = open || f["rule"] == guard.RuleResidencyReplication && f["status"] == "open"
	}
	if !open {
		t.Errorf("the replication finding fixed with no event should stay open until the reconcile (issue 16): %v", recVerdicts(rf))
	}
}

// Every recorded session in testdata, as far as it came through Event Hubs, is
// recorded again from a fake hub and a fake ARM that answers as the session's
// arm lines say: replaying the new recording gives what the recorder found,
// exactly, and the recVerdicts (finding, status) of replaying the original.
func TestRecordingTestdataSessionsReplaysToTheSameVerdicts(t *testing.T) {
	t.Parallel()
	for _, s := range sessions(t) {
		t.Run(s.name, func(t *testing.T) {
			raw, err := os.ReadFile(s.path)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := policyfile.Load(s.policy)
			if err != nil {
				t.Fatal(err)
			}
			policyPath := s.policy
			if pol.Remediation.Mode == guard.RemediationAuto {
				// A recorder never remediates; replay with auto remediation
				// remediates the session's resources itself, and its verdicts
				// follow from that. Compare the two with remediation planned only.
				pol.Remediation.Mode = guard.RemediationDryRun
				raw, err := policyfile.Marshal(pol)
				if err != nil {
					t.Fatal(err)
				}
				policyPath = filepath.Join(t.TempDir(), "dry-run.policy.yaml")
				if err := os.WriteFile(policyPath, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var rec *recorder
			truth := replay.NewARM(func() time.Time { return rec.clock })
			var wall time.Time
			var steps []ehtest.Step
			var hubOnly bytes.Buffer
			for _, line := range bytes.Split(raw, []byte("\n")) {
				l, err := session.Parse(line)
				if err != nil || l.Source == session.SourceEventGrid {
					continue // malformed lines and Event Grid deliveries do not come through a hub
				}
				hubOnly.Write(append(line, '\n'))
				at := l.At
				switch l.Source {
				case session.SourceARM:
					truth.Observe(l)
				case session.SourceEventHub:
					steps = append(steps, ehtest.Step{Events: []eventhubs.Event{{Body: l.Body, EnqueuedTime: at}},
						Before: func() { wall = at }})
				case session.SourceClock:
					steps = append(steps, ehtest.Step{Idle: true, Before: func() { wall = at }})
				}
			}
			if len(steps) == 0 {
				t.Skip("nothing comes through a hub")
			}
			rec, path := newTestRecorder(t, &ehtest.Receiver{Steps: steps}, truth, pol, true)
			// Recording as it happens: each sweep runs at its tick, so it reads
			// ARM afresh, as it was then.
			rec.Now = func() time.Time {
				if rec.sweeping {
					return rec.clock
				}
				return wall
			}
			first, _ := session.Parse(bytes.SplitN(raw, []byte("\n"), 2)[0])
			rec.Start = first.At.Add(-time.Nanosecond)
			if err := rec.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := rec.Out.Close(); err != nil {
				t.Fatal(err)
			}
			args := []string{"replay", "--format", "json"}
			if policyPath != "" {
				args = append(args, "--policy", policyPath)
			}
			out, _, err := run(t, append(args, path)...)
			if err != nil {
				t.Fatal(err)
			}
			recorded := recDecodeFindings(t, out)
			if diff := cmp.Diff(recStoreFindings(t, rec.Store), withoutRemediationRecord(recorded)); diff != "" {
				t.Errorf("replay of the recording differs from what the recorder found (-recorder +replay):\n%s", diff)
			}
			orig := filepath.Join(t.TempDir(), "hub-only.ndjson")
			if err := os.WriteFile(orig, hubOnly.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, _, err = run(t, append(args, orig)...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(recVerdicts(recDecodeFindings(t, out)), recVerdicts(recorded)); diff != "" {
				t.Errorf("recVerdicts differ from the original session's (-original +recording):\n%s", diff)
			}
			t.Logf("%s: %d finding(s); %s", s.name, len(recorded), rec.Stats())
		})
	}
}

// withoutRemediationRecord is fs without the remediation engine's record
// (evidence.remediation): replay runs the remediation planner, a recorder
// does not (its findings have the remediation status the policy's mode gives,
// and no record of a plan).
func withoutRemediationRecord(fs []map[string]any) []map[string]any {
	for _, f := range fs {
		if ev, ok := f["evidence"].(map[string]any); ok {
			delete(ev, "remediation")
		}
	}
	return fs
}

func recVerdicts(fs []map[string]any) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f["rule"], f["resourceId"], f["status"]))
	}
	return out
}

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
	arm := &recFakeARM{}
	arm.set(recAccount, recStorageBody(recAccount, "Standard_RAGRS", "usgovvirginia", "usgovtexas"))
	var gotTarget eventhubs.Target
	var gotOpts eventhubs.ConsumerOptions
	var armCloud string
	env := map[string]string{}
	app := azureApp(env)
	app.OpenReceiver = func(_ context.Context, tg eventhubs.Target, o eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
		gotTarget, gotOpts = tg, o
		return &ehtest.Receiver{Steps: []ehtest.Step{{Events: []eventhubs.Event{
			recMessage(t, t0, recActivityRecord(recAccount, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))}}}}, nil
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
	if lines := recSessionLines(t, out); len(lines) != 2 || lines[0].Source != "arm" || lines[1].Source != "eventhub" {
		t.Errorf("session %+v", lines)
	}
	for _, want := range []string{"recording guard-eh.servicebus.usgovcloudapi.net/insights-activity-logs", "recorded to " + out + ": 1 message(s), 1 arm line(s)", "replay will find: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
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
	app.ARMReader = func(string) (guard.ResourceReader, error) { return &recFakeARM{}, nil }
	return app
}
