package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"

	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/recorder/recordertest"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/rules"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

func newTestRecorder(t *testing.T, recv eventhubs.Receiver, live guard.ResourceReader, pol *guard.Policy, schedule bool) (*Recorder, string) {
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
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{Receiver: ehReceiver{recv}, Store: st, Live: live, Policy: pol, Out: out, Log: slog.New(slog.DiscardHandler), Warn: io.Discard,
		Start: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), MinWait: 10 * time.Second, MaxWait: 10 * time.Second}
	if schedule {
		r.Schedule, r.Reconcile = timer(t, "sweep"), timer(t, "reconcile")
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
	return recordertest.DecodeFindings(t, buf.String())
}

// Each succeeded change gets an arm line, read when its message is recorded,
// written before the message, at the message's enqueued time; started and
// failed operations get none; the message is one compact line.
func TestRecordWritesAnARMLinePerSucceededChange(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 20, 0, 0, time.UTC)
	arm := &recordertest.FakeARM{}
	arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_RAGRS", "westeurope", "northeurope"))
	other := strings.Replace(recordertest.Account, "partnerxfer", "failedacct", 1)
	arm.Set(other, recordertest.StorageBody(other, "Standard_GRS", "westeurope", "northeurope"))
	m1 := recordertest.Message(t, t0.Add(100*time.Second),
		recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Start", "c-1", t0),
		recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0.Add(2*time.Second)),
		recordertest.ActivityRecord(other, "Microsoft.Storage/storageAccounts/write", "Failure", "c-2", t0.Add(3*time.Second)))
	m2 := recordertest.Message(t, t0.Add(40*time.Minute),
		recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-3", t0.Add(39*time.Minute)))
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{m1}},
		{Events: []eventhubs.Event{m2}, Before: func() {
			arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_LRS", "westeurope", ""))
		}},
	}}
	rec, path := newTestRecorder(t, recv, arm, nil, false)
	if err := rec.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rec.Out.Close(); err != nil {
		t.Fatal(err)
	}
	lines := recordertest.SessionLines(t, path)
	var got []string
	for _, l := range lines {
		got = append(got, l.Source+"@"+l.At.Format("15:04:05")+" "+l.ID)
	}
	want := []string{
		"arm@09:21:40 " + recordertest.Account,
		"eventhub@09:21:40 ",
		"arm@10:00:00 " + recordertest.Account,
		"eventhub@10:00:00 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("session lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(lines[0].Body), "Standard_RAGRS") || !strings.Contains(string(lines[2].Body), "Standard_LRS") {
		t.Errorf("arm lines do not hold the state read when each message was recorded:\n%s\n%s", lines[0].Body, lines[2].Body)
	}
	if n := arm.ReadCount(); n != 2 {
		t.Errorf("ARM read %d times, want 2 (the Start and the failed write are not read): %v", n, arm.Reads)
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
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), replayFindings(t, path, rec.Policy)); diff != "" {
		t.Errorf("replay of the recording differs from what the recorder found (-recorder +replay):\n%s", diff)
	}
}

// A resource ARM says is gone gets a deleted line when the session knew it; a
// resource ARM cannot read is reported and answered from the session.
func TestRecordDeletedAndUnreadableResources(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	arm := &recordertest.FakeARM{}
	arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_RAGRS", "westeurope", "northeurope"))
	boom := errors.New("403 AuthorizationFailed")
	odd := "/subscriptions/" + recordertest.Sub + "/resourceGroups/rg/providers/Microsoft.Contoso/widgets/w1"
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{recordertest.Message(t, t0, recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))}},
		{Events: []eventhubs.Event{recordertest.Message(t, t0.Add(time.Minute), recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-2", t0))},
			Before: func() { arm.Fail = map[string]error{guard.IDKey(recordertest.Account): boom} }},
		{Events: []eventhubs.Event{recordertest.Message(t, t0.Add(2*time.Minute), recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-3", t0))},
			Before: func() { arm.Fail = nil; arm.Set(recordertest.Account, nil) }},
		// A type ARM cannot be asked for is no failure: no verdict, as live.
		{Events: []eventhubs.Event{recordertest.Message(t, t0.Add(3*time.Minute), recordertest.ActivityRecord(odd, "Microsoft.Contoso/widgets/write", "Success", "c-4", t0))},
			Before: func() {
				arm.Fail = map[string]error{guard.IDKey(odd): fmt.Errorf("no api-version: %w", guard.ErrUnsupported)}
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
	for _, l := range recordertest.SessionLines(t, path) {
		got = append(got, fmt.Sprintf("%s@%s deleted=%v", l.Source, l.At.Format("15:04"), l.Deleted))
	}
	want := []string{"arm@09:00 deleted=false", "eventhub@09:00 deleted=false", "eventhub@09:01 deleted=false",
		"arm@09:02 deleted=true", "eventhub@09:02 deleted=false", "eventhub@09:03 deleted=false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(warn.String(), "could not read "+recordertest.Account+": 403 AuthorizationFailed") || strings.Contains(warn.String(), "widgets") {
		t.Errorf("warning: %q", warn.String())
	}
	if rec.Stats().Unread != 1 {
		t.Errorf("stats %+v", rec.Stats())
	}
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), replayFindings(t, path, rec.Policy)); diff != "" {
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
			arm := &recordertest.FakeARM{}
			arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_RAGRS", "westeurope", "northeurope"))
			var steps []ehtest.Step
			for i := 0; i < 5; i++ {
				steps = append(steps, ehtest.Step{Events: []eventhubs.Event{
					recordertest.Message(t, t0.Add(time.Duration(i)*time.Minute), recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", fmt.Sprintf("c-%d", i), t0)),
					recordertest.Message(t, t0.Add(time.Duration(i)*time.Minute+time.Second), recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Start", fmt.Sprintf("d-%d", i), t0)),
				}})
			}
			reads := 0
			switch during {
			case "read":
				arm.OnRead = func(string) {
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
			lines := recordertest.SessionLines(t, path)
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
	arm := &recordertest.FakeARM{}
	arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_RAGRS", "westeurope", "northeurope"))
	var wall time.Time
	recv := &ehtest.Receiver{Steps: []ehtest.Step{
		{Events: []eventhubs.Event{recordertest.Message(t, t0, recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-1", t0))},
			Before: func() { wall = t0 }},
		{Events: []eventhubs.Event{recordertest.Message(t, t0.Add(11*time.Minute), recordertest.ActivityRecord(recordertest.Account, "Microsoft.Storage/storageAccounts/write", "Success", "c-2", t0))},
			Before: func() { wall = t0.Add(11 * time.Minute) }},
		// Quiet: the wall clock passes 09:15 and 09:20; the account is fixed meanwhile.
		{Idle: true, Before: func() {
			wall = t0.Add(20 * time.Minute)
			arm.Set(recordertest.Account, recordertest.StorageBody(recordertest.Account, "Standard_LRS", "westeurope", ""))
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
	for _, l := range recordertest.SessionLines(t, path) {
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
	rf := replayFindings(t, path, rec.Policy)
	if diff := cmp.Diff(recStoreFindings(t, rec.Store), rf); diff != "" {
		t.Errorf("replay differs from the recorder (-recorder +replay):\n%s", diff)
	}
	open := false
	for _, f := range rf {
		open = open || f["rule"] == guard.RuleResidencyReplication && f["status"] == "open"
	}
	if !open {
		t.Errorf("the replication finding fixed with no event should stay open until the reconcile (issue 16): %v", recordertest.Verdicts(rf))
	}
}

// Every recorded session in testdata, as far as it came through Event Hubs, is
// recorded again from a fake hub and a fake ARM that answers as the session's
// arm lines say: replaying the new recording gives what the recorder found,
// exactly, and the verdicts (finding, status) of replaying the original.
func TestRecordingTestdataSessionsReplaysToTheSameVerdicts(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../../testdata/sessions/*.ndjson")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sessions in testdata/sessions (%v)", err)
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".ndjson"), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			policyPath := strings.TrimSuffix(p, ".ndjson") + ".policy.yaml"
			if _, err := os.Stat(policyPath); err != nil {
				policyPath = ""
			}
			pol, err := policyfile.Load(policyPath)
			if err != nil {
				t.Fatal(err)
			}
			var rec *Recorder
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
			recorded := replayFindings(t, path, pol)
			if diff := cmp.Diff(recStoreFindings(t, rec.Store), recorded); diff != "" {
				t.Errorf("replay of the recording differs from what the recorder found (-recorder +replay):\n%s", diff)
			}
			orig := filepath.Join(t.TempDir(), "hub-only.ndjson")
			if err := os.WriteFile(orig, hubOnly.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(recordertest.Verdicts(replayFindings(t, orig, pol)), recordertest.Verdicts(recorded)); diff != "" {
				t.Errorf("verdicts differ from the original session's (-original +recording):\n%s", diff)
			}
			t.Logf("%s: %d finding(s); %s", filepath.Base(p), len(recorded), rec.Stats())
		})
	}
}

// ehReceiver is a fake hub's receiver as the recorder takes it.
type ehReceiver struct{ r eventhubs.Receiver }

func (h ehReceiver) Receive(ctx context.Context) ([]Event, error) {
	evs, err := h.r.Receive(ctx)
	out := make([]Event, len(evs))
	for i, ev := range evs {
		out[i] = Event(ev)
	}
	return out, err
}

// timer is the schedule of a timer function, read from its function.json as
// the command line reads it.
func timer(t *testing.T, function string) replay.Schedule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../functions", function, "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fj struct {
		Bindings []struct{ Type, Schedule string } `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		t.Fatal(err)
	}
	for _, b := range fj.Bindings {
		if b.Type == "timerTrigger" {
			s, err := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(b.Schedule)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("%s: no timerTrigger", function)
	return nil
}

// replayFindings replays a session as exportguard replay does, through the
// pipeline the recorder judges with (no planners: nothing is notified or
// remediated), on the timers' schedules, and lists its findings as
// recStoreFindings does.
func replayFindings(t *testing.T, path string, pol *guard.Policy) []map[string]any {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl := &guard.Pipeline{Store: st, Policy: pol, Rules: rules.All(), Log: slog.New(slog.DiscardHandler),
		Decoders: map[guard.Source]guard.Decoder{
			guard.SourceEventHub:  activitylog.Decode,
			guard.SourceEventGrid: eventgrid.Decode,
		}}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &replay.Replayer{Pipeline: pl, Schedule: timer(t, "sweep"), Reconcile: timer(t, "reconcile"), Errors: io.Discard}
	if _, err := r.Run(ctx, path, f); err != nil {
		t.Fatal(err)
	}
	return recStoreFindings(t, st)
}
