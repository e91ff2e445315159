// Package recordertest holds what the recorder's tests and the record
// command's tests share: Activity Log records and Event Hubs messages as a
// diagnostic setting streams them, a storage account body, an ARM that
// answers from bodies the test sets, and readers of what a recording wrote.
package recordertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

// The subscription and storage account the recorder tests use.
const (
	Sub     = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	Account = "/subscriptions/" + Sub + "/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer"
)

// ActivityRecord is one Activity Log record as a diagnostic setting streams it.
func ActivityRecord(id, op, result, correlation string, at time.Time) map[string]any {
	return map[string]any{
		"time": at.Format(time.RFC3339Nano), "resourceId": id, "operationName": op,
		"category": "Administrative", "resultType": result, "correlationId": correlation,
		"identity": map[string]any{"claims": map[string]any{
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "bob.okafor@contoso.com"}},
		"level": "Information", "location": "global",
	}
}

// Message is an Event Hubs message holding records, pretty-printed as some
// producers send them (the session line must still be one line).
func Message(t *testing.T, enqueued time.Time, records ...map[string]any) eventhubs.Event {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"records": records}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return eventhubs.Event{Body: b, EnqueuedTime: enqueued, PartitionID: "1", SequenceNumber: 42}
}

// StorageBody is the ARM GET body of a storage account.
func StorageBody(id, sku, location, secondary string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"name":"partnerxfer","type":"Microsoft.Storage/storageAccounts","location":%q,
  "sku":{"name":%q,"tier":"Standard"},"kind":"StorageV2",
  "properties":{"primaryLocation":%q,"secondaryLocation":%q,"statusOfPrimary":"available","minimumTlsVersion":"TLS1_2",
  "supportsHttpsTrafficOnly":true,"encryption":{"keySource":"Microsoft.Storage"}}}`, id, location, sku, location, secondary))
}

// FakeARM answers reads from bodies set by the test, counting reads. Fail
// makes reads of an ID key fail; OnRead, when set, is called on every read.
type FakeARM struct {
	mu     sync.Mutex
	bodies map[string][]byte
	Fail   map[string]error
	Reads  []string
	OnRead func(id string)
}

func (f *FakeARM) Set(id string, body []byte) {
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

func (f *FakeARM) ReadResource(ctx context.Context, id string) (*guard.Resource, error) {
	f.mu.Lock()
	f.Reads = append(f.Reads, id)
	body, ok := f.bodies[guard.IDKey(id)]
	err := f.Fail[guard.IDKey(id)]
	hook := f.OnRead
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

// SessionLines reads a session and checks that every line is whole.
func SessionLines(t *testing.T, path string) []session.Line {
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

// DecodeFindings decodes findings printed one JSON object a line, sorted by
// resource ID then rule.
func DecodeFindings(t *testing.T, out string) []map[string]any {
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

// Verdicts names each finding as "rule resourceId status".
func Verdicts(fs []map[string]any) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f["rule"], f["resourceId"], f["status"]))
	}
	return out
}

// ReadCount returns how many reads were made.
func (f *FakeARM) ReadCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Reads)
}
