package eventgrid

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// FuzzDecode checks, beyond "no panic", that every change is usable and that no
// event is lost: each one becomes a change, a rejection or an ignored event.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", " ", "null", "[]", "{}", "[{}]", "0", `"x"`, `[null,1,"x",[],{},true]`,
		`{"records":null}`,
		`{"specVersion":"1.0","SpecVersion":"1.0","id":"a","source":"/s","type":"t"}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"Microsoft.Resources.ResourceWriteSuccess","time":"2018-07-19T18:38:04.6117357Z","data_base64":"e30="}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"Microsoft.Resources.ResourceWriteSuccess","data_base64":1}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"Microsoft.Resources.ResourceWriteSuccess","datacontenttype":"text/plain","data":"x"}`,
		`{"specversion":"0.3","id":"a","source":"/s","type":"t","datacontentencoding":"base64","data":"e30="}`,
		`{"id":"a","eventType":"Microsoft.ResourceNotifications.Resources.CreatedOrUpdated","eventTime":"2023-07-28T20:13:10Z","data":{"resourceInfo":{"id":" "}}}`,
		`{"id":"a","eventType":"Microsoft.Resources.ResourceActionCancel","eventTime":"2023-07-28T20:13:10Z","subject":"/subscriptions/s/resourceGroups/r/providers/A.B/c/d"}`,
		`[` + strings.Repeat(`[`, 2000) + strings.Repeat(`]`, 2000) + `]`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","x":` + strings.Repeat(`{"a":`, 3000) + `1` + strings.Repeat(`}`, 3000) + `}`,
		strings.Repeat(`[{"data":`, 500),
		`{"id":"a","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2023-07-28T20:13:10Z","subject":"/subscriptions/s/resourceGroups/r/../../subscriptions/o/providers/A.B/c/d","data":{"subscriptionId":"o"}}`,
		`{"specversion":"1.0","id":"k","source":"/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v/%2e%2e","type":"Microsoft.KeyVault.KeyNearExpiry","time":"2026-11-01T08:00:00Z","data":{"Id":"https://v.vault.azure.net/keys/k/1"}}`,
		`{"id":"a","eventType":"Microsoft.ResourceNotifications.Resources.Deleted","eventTime":"2023-07-28T20:13:10Z","data":{"resourceInfo":{"id":"/subscriptions/s//x\\y","type":"A.B/c"}}}`,
		`{"id":"k","eventType":"Microsoft.KeyVault.KeyNearExpiry","eventTime":"2026-11-01T08:00:00Z","topic":"/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v","data":{"Id":"https://v.vault.azure.net/keys/k/1","EXP":"1e3","NBF":null}}`,
		`{"id":"k","eventType":"Microsoft.KeyVault.KeyExpired","eventTime":"2026-11-01T08:00:00Z","topic":"/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v","data":{"Id":"https://v.vault.azure.net:443/keys/k","ObjectName ":" k","Version":" 2","id":"dup"}}`,
		`{"specversion":"1.0","id":"k","source":"/subscriptions/%7Bs%7D/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v","type":"Microsoft.KeyVault.KeyNewVersionCreated","time":"2026-11-01T08:00:00Z","data":{"Id":"https://v.vault.azure.net/keys/k/1","EXP":1.5e300}}`,
		`{"id":"k","eventType":"Microsoft.KeyVault.KeyNewVersionCreated","eventTime":"2026-11-01T08:00:00Z","topic":"/subscriptions/s/providers/Microsoft.KeyVault/vaults/v ","subject":"k","data":{"Id":"https://v.vault.azure.net/keys/k/1/2","ObjectType":"Certificate"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Decode(body)
		if err != nil {
			if len(got.Changes)+len(got.Rejected)+got.Ignored != 0 {
				t.Fatalf("Decode returned %+v with error %v, want nothing", got, err)
			}
			return
		}
		if len(body) > MaxBodyBytes {
			t.Fatalf("Decode accepted %d bytes, more than MaxBodyBytes", len(body))
		}
		want := 1
		if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
			var events []json.RawMessage
			if err := json.Unmarshal(b, &events); err != nil {
				t.Fatalf("Decode accepted an array encoding/json cannot read: %v", err)
			}
			want = len(events)
		} else if !json.Valid(body) {
			t.Fatalf("Decode accepted invalid JSON")
		}
		if n := len(got.Changes) + len(got.Rejected) + got.Ignored; n != want {
			t.Fatalf("%d changes + %d rejected + %d ignored = %d, want the %d events",
				len(got.Changes), len(got.Rejected), got.Ignored, n, want)
		}
		for _, c := range got.Changes {
			checkChange(t, c)
		}
		for _, r := range got.Rejected {
			if r.Reason == "" || len(r.Body) > maxRejectedBytes {
				t.Fatalf("Rejected{Reason: %q, len(Body): %d}, want a reason and at most %d bytes", r.Reason, len(r.Body), maxRejectedBytes)
			}
		}
		again, err := Decode(body)
		if err != nil {
			t.Fatalf("second Decode failed: %v", err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("Decode is not deterministic (-first +second):\n%s", diff)
		}
	})
}

func checkChange(t *testing.T, c guard.Change) {
	t.Helper()
	if c.ResourceID == "" || c.Operation == "" || c.EventID == "" {
		t.Fatalf("change %+v lacks ResourceID, Operation or EventID", c)
	}
	if err := guard.CheckResourceID(c.ResourceID); err != nil {
		t.Fatalf("change for %q passed: %v", c.ResourceID, err)
	}
	switch c.Outcome {
	case guard.OutcomeSucceeded, guard.OutcomeFailed: // the only outcomes an event type names
	default:
		t.Fatalf("change %+v has outcome %q", c, c.Outcome)
	}
	switch c.Action {
	case guard.ActionWrite, guard.ActionDelete, guard.ActionAction:
	default:
		t.Fatalf("change %+v has action %q", c, c.Action)
	}
	if c.Source != guard.SourceEventGrid || c.EventTime.IsZero() || c.EventTime.Location() != time.UTC {
		t.Fatalf("change %+v: want source eventgrid and a UTC time", c)
	}
	if r := c.Resource; r != nil && (r.ID != c.ResourceID || r.Deleted != (c.Action == guard.ActionDelete)) {
		t.Fatalf("change %+v carries resource %+v for another ID or deletion state", c, r)
	}
}
