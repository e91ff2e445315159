package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// sessionLines reads the sample session's lines of one source.
func sessionLines(t *testing.T, source string) []session.Line {
	t.Helper()
	f, err := os.Open("testdata/sessions/storage-replication.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []session.Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, session.MaxLineBytes)
	for sc.Scan() {
		l, err := session.Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if l.Source == source {
			out = append(out, l)
		}
	}
	return out
}

// hostActivityLogInvocation builds the body the Functions host POSTs to
// /activitylog for an eventHubTrigger with cardinality many and dataType string:
// Data.events is a JSON string holding a JSON array of the message bodies, here
// encoded once more, as the host's GetHttpScriptInvocationContextValue does for
// string[] (research/functions-custom-handler.md §2.1, §2.5).
func hostActivityLogInvocation(t *testing.T, bodies []string) []byte {
	t.Helper()
	arr, _ := json.Marshal(bodies)
	once, _ := json.Marshal(string(arr))
	twice, _ := json.Marshal(string(once))
	n := len(bodies)
	strs := func(v string) string {
		s := "[" + strings.TrimSuffix(strings.Repeat(v+",", n), ",") + "]"
		b, _ := json.Marshal(s)
		return string(b)
	}
	return []byte(`{"Data":{"events":` + string(twice) + `},"Metadata":{` +
		`"PartitionContext":{"FullyQualifiedNamespace":"eh-exportguard.servicebus.windows.net","EventHubName":"insights-activity-logs","ConsumerGroup":"$Default","PartitionId":"0"},` +
		`"PartitionKeyArray":` + strs("null") + `,"SequenceNumberArray":` + strs("59") + `,` +
		`"EnqueuedTimeUtcArray":` + strs(`"2026-11-02T10:31:47.809"`) + `,"PropertiesArray":` + strs("{}") + `,` +
		`"sys":{"MethodName":"activitylog","UtcNow":"2026-11-02T10:31:48.0001Z","RandGuid":"4e773554-f6b7-4ea2-b07d-4c5fd5aba741"}}}`)
}

func TestHandlerStoresFindingsFromAHostBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/handler.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	arm := replay.NewARM(func() time.Time { return now })
	for _, l := range sessionLines(t, session.SourceARM) {
		if !strings.Contains(string(l.Body), "Standard_LRS") { // the state before the fix
			arm.Observe(l)
		}
	}
	var bodies []string
	for _, l := range sessionLines(t, session.SourceEventHub) {
		bodies = append(bodies, string(l.Body))
	}
	// One corrupt record inside an otherwise good envelope, and one body that is
	// not JSON at all: neither may stop the others.
	corrupt := strings.Replace(bodies[1], `"time":"2026-11-02T09:19:58.1034512Z"`, `"time":"not a time"`, 1)
	if corrupt == bodies[1] {
		t.Fatal("test set-up: the record to corrupt was not found")
	}
	batch := []string{bodies[0], corrupt, `{"records":[{"time":`, bodies[2], bodies[4]}

	pl, err := testApp().newPipeline(st, arm, policyfile.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := functions.NewHandler(functions.Options{
		Ingester: pl,
		Now:      func() time.Time { return now },
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/activitylog", bytes.NewReader(hostActivityLogInvocation(t, batch)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Azure-Functions-InvocationId", "6a8b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d, Content-Type %q; want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var out map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
			if _, ok := out[k]; !ok {
				t.Errorf("response lacks %s: %v", k, out)
			}
		}
	}
	post()
	post() // at-least-once: the host delivers the same batch again

	fs, err := st.ListFindings(ctx, guard.FindingFilter{Rule: guard.RuleResidencyReplication})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Status)+" "+f.Rule+" "+f.ResourceID[strings.LastIndex(f.ResourceID, "/")+1:])
	}
	want := []string{"open residency.replication eudrbackup", "open residency.replication partnerxfer"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	poison, err := st.ListPoison(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(poison) != 2 {
		t.Errorf("poison records = %d, want 2 (the corrupt record and the body that is not JSON), each kept once", len(poison))
	}
	recs, err := trailEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	opened := map[string]int{}
	for _, r := range recs {
		if r.Kind == "finding.open" {
			opened[r.Subject]++
		}
	}
	for _, f := range fs {
		if opened[f.ID] != 1 {
			t.Errorf("finding %s opened %d times after two deliveries of one batch, want once", f.ID, opened[f.ID])
		}
	}
}
