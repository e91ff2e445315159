package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// Hostile case "`..` IDs" (issue 14 case 5, DESIGN 3.6): a resource ID that
// starts with the allowed subscription as text and names another once "." and
// "..", escapes or backslashes are resolved.
const (
	idsAllowed = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70" // the session's, and the auto policy's scope
	idsOther   = "0f9e8d7c-6b5a-4948-8372-615049382716" // outside the scope
	idsTarget  = "/subscriptions/" + idsOther + "/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/itarother"
	// rg-dr is the fourth segment: four ".." climb to the root.
	idsDotted = "/subscriptions/" + idsAllowed + "/resourceGroups/rg-dr/../../../../subscriptions/" + idsOther + "/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/itarother"
)

var idsHostile = map[string]string{
	"dot segments":    idsDotted,
	"percent-escapes": strings.ReplaceAll(idsDotted, "..", "%2e%2e"),
	"backslashes":     "/subscriptions/" + idsAllowed + `/resourceGroups/rg-dr\..\..\..\..\subscriptions\` + idsOther + `\resourceGroups\rg-other\providers\Microsoft.Storage\storageAccounts\itarother`,
}

// frontEnd is the session's ARM behind a front end that resolves escapes,
// backslashes, "." and ".." before it routes, as URL-normalising proxies do:
// what an unchecked ID would really reach. It records every ID it is asked to
// read or write, as given.
type frontEnd struct {
	*replay.ARM
	mu            sync.Mutex
	reads, writes []string
}

func resolveID(id string) string {
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return path.Clean(strings.ReplaceAll(id, `\`, "/"))
}

func (f *frontEnd) note(to *[]string, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*to = append(*to, id)
}

func (f *frontEnd) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	f.note(&f.reads, id)
	return f.ARM.ReadResource(ctx, resolveID(id))
}

func (f *frontEnd) Patch(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	f.note(&f.writes, id)
	return f.ARM.Patch(ctx, resolveID(id), body)
}

func (f *frontEnd) Put(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	f.note(&f.writes, id)
	return f.ARM.Put(ctx, resolveID(id), body)
}

func (f *frontEnd) Delete(ctx context.Context, id string) error {
	f.note(&f.writes, id)
	return f.ARM.Delete(ctx, resolveID(id))
}

// reachesOther reports whether an ID is unusable or lands outside the scope.
func reachesOther(id string) bool {
	return guard.CheckResourceID(id) != nil || strings.Contains(strings.ToLower(resolveID(id)), idsOther)
}

// idsTargetBody is the other subscription's account as ARM holds it: GZRS in
// North Europe, in violation of the auto policy, so a plan would write it.
func idsTargetBody(t *testing.T, id string) json.RawMessage {
	t.Helper()
	for _, l := range sessionLines(t, session.SourceARM) {
		if strings.HasSuffix(l.ID, "/eudrbackup") {
			var m map[string]any
			if err := json.Unmarshal(l.Body, &m); err != nil {
				t.Fatal(err)
			}
			m["id"], m["name"] = id, "itarother"
			b, _ := json.Marshal(m)
			return b
		}
	}
	t.Fatal("test set-up: eudrbackup has no arm line")
	return nil
}

// TestFaultHandlerDotDotIDs posts to the custom handler's HTTP surface, with
// remediation in auto mode, Activity Log records, Event Grid and CloudEvents
// resource events and a Resource Notifications payload whose resource ID could
// be read two ways, among good records. Each is kept as poison with its
// reason; none is read from ARM, judged or planned, and nothing outside the
// scope is read or written; the good record beside them opens its finding.
func TestFaultHandlerDotDotIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ids.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	arm := &frontEnd{ARM: replay.NewARM(func() time.Time { return now })}
	for _, l := range sessionLines(t, session.SourceARM) {
		if !strings.Contains(string(l.Body), "Standard_LRS") { // the state before the fix
			arm.Observe(l)
		}
	}
	arm.Observe(session.Line{Source: session.SourceARM, At: now.Add(-time.Hour), ID: idsTarget, Body: idsTargetBody(t, idsTarget)})

	pol, err := policyfile.Load(remAuto)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := testApp().newPipeline(st, arm, pol, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(functions.NewHandler(functions.Options{Ingester: testApp().servedIngester(pl, st), Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	post := func(fn string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+fn, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Azure-Functions-InvocationId", "0f5a7d1c-ids")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /%s: %d %s", fn, resp.StatusCode, b)
		}
	}

	// Activity Log: the session's message of eudrbackup's write, and a copy of
	// its record for each hostile ID.
	var good string
	for _, l := range sessionLines(t, session.SourceEventHub) {
		if strings.Contains(string(l.Body), "/EUDRBACKUP") {
			good = string(l.Body)
		}
	}
	var msg struct{ Records []map[string]any }
	if err := json.Unmarshal([]byte(good), &msg); err != nil || len(msg.Records) == 0 {
		t.Fatalf("test set-up: %v", err)
	}
	records := append([]map[string]any(nil), msg.Records...)
	var poisoned int
	for _, id := range idsHostile {
		r := map[string]any{}
		for k, v := range msg.Records[0] {
			r[k] = v
		}
		r["resourceId"] = id
		records = append(records, r)
		poisoned++
	}
	hostileMsg, _ := json.Marshal(map[string]any{"records": records})
	post("activitylog", hostActivityLogInvocation(t, []string{string(hostileMsg)}))

	// Event Grid: a resource event in each schema, and a Resource Notifications
	// payload that carries a violating state for the hostile ID.
	for name, id := range idsHostile {
		eg := map[string]any{"id": "eg-" + name, "topic": "/subscriptions/" + idsAllowed, "subject": id,
			"eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2026-11-02T10:31:00Z",
			"data": map[string]any{"resourceUri": id, "operationName": "Microsoft.Storage/storageAccounts/write", "status": "Succeeded",
				"subscriptionId": idsAllowed, "correlationId": "c0ffee00-0000-4000-8000-0000000000e1"},
			"dataVersion": "2", "metadataVersion": "1"}
		ce := map[string]any{"specversion": "1.0", "id": "ce-" + name, "source": "/subscriptions/" + idsAllowed, "subject": id,
			"type": "Microsoft.Resources.ResourceWriteSuccess", "time": "2026-11-02T10:31:00Z", "data": eg["data"]}
		var info map[string]any
		_ = json.Unmarshal(idsTargetBody(t, id), &info)
		rn := map[string]any{"specversion": "1.0", "id": "rn-" + name, "source": "/subscriptions/" + idsAllowed, "subject": id,
			"type": "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated", "time": "2026-11-02T10:31:00Z",
			"data": map[string]any{"resourceInfo": info, "operationalInfo": map[string]any{"resourceEventTime": "2026-11-02T10:31:00Z"}}}
		for _, ev := range []any{eg, ce, rn} {
			b, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": ev}, "Metadata": map[string]any{}})
			post("resourceevents", b)
			poisoned++
		}
	}
	if pl.Dispatcher != nil { // whatever was planned is delivered now
		if _, err := pl.Dispatcher.Run(ctx, now); err != nil {
			t.Fatal(err)
		}
	}

	ps, err := st.ListPoison(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != poisoned {
		t.Errorf("%d poison records, want one for each of the %d hostile items", len(ps), poisoned)
	}
	for _, p := range ps {
		if !strings.Contains(p.Reason, "resource ID refused") {
			t.Errorf("poison reason %q does not say the ID was refused", p.Reason)
		}
	}
	fs, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	eudr := false
	for _, f := range fs {
		if reachesOther(f.ResourceID) || strings.EqualFold(f.SubscriptionID, idsOther) {
			t.Errorf("finding %s %s on %q", f.Rule, f.Status, f.ResourceID)
		}
		eudr = eudr || strings.EqualFold(lastSeg(f.ResourceID), "eudrbackup") && f.Rule == guard.RuleResidencyReplication
	}
	if !eudr {
		t.Error("the good record among the hostile ones opened no finding")
	}
	arm.mu.Lock()
	defer arm.mu.Unlock()
	for _, id := range arm.reads {
		if reachesOther(id) {
			t.Errorf("ARM was asked to read %q", id)
		}
	}
	for _, id := range arm.writes {
		if reachesOther(id) {
			t.Errorf("ARM was asked to write %q", id)
		}
	}
	for _, w := range arm.ARM.Writes() {
		if reachesOther(w.ID) {
			t.Errorf("written: %s %s", w.Method, w.ID)
		}
	}
}

// TestFaultReplayDotDotIDs: a recorded session whose arm line answers for a
// hostile ID reports the line as malformed and skips it, as replay does any
// malformed line; its Activity Log record is kept as poison.
func TestFaultReplayDotDotIDs(t *testing.T) {
	t.Parallel()
	armLine, _ := json.Marshal(map[string]any{"source": "arm", "observedAt": "2026-11-02T09:00:00Z", "body": idsTargetBody(t, idsDotted)})
	rec := map[string]any{"time": "2026-11-02T09:10:00Z", "resourceId": idsDotted, "operationName": "Microsoft.Storage/storageAccounts/write",
		"category": "Administrative", "resultType": "Success", "correlationId": "c0ffee00-0000-4000-8000-0000000000e2"}
	ehLine, _ := json.Marshal(map[string]any{"source": "eventhub", "enqueuedTime": "2026-11-02T09:10:05Z", "body": map[string]any{"records": []any{rec}}})
	session := filepath.Join(t.TempDir(), "dotdot.ndjson")
	if err := os.WriteFile(session, []byte(string(armLine)+"\n"+string(ehLine)+"\n"+`{"source":"clock","at":"2026-11-02T11:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "replay", "--format", "json", session)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dotdot.ndjson:1: arm body id: resource ID refused: dot segment; line skipped",
		"dotdot.ndjson:2: 1 item(s) could not be read and were kept as poison",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, idsOther) || strings.Contains(out, "..") {
		t.Errorf("the hostile ID reached a finding:\n%s", out)
	}
}
