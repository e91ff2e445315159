package activitylog

import (
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
// record is lost: each one becomes a change or a rejection.
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
		"", " ", "null", "[]", "{}", "0", `"x"`,
		`{"records":null}`, `{"records":[]}`, `{"records":{}}`, `{"records":"[]"}`,
		`{"records":[null,1,"x",[],{},true]}`,
		`{"Records":[{"time":"2019-01-21T22:14:26.9792776Z","resourceId":"/x","operationName":{"value":"a/write"},"status":{"value":"Succeeded"}}]}`,
		`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":" ","operationName":"a/write"}]}`,
		`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":"/subscriptions/s","operationName":"a/write","identity":{"claims":{"appid":[{}],"upn":null}}}]}`,
		`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":"/subscriptions/s","operationName":"a/write","resultType":"\u0000"}],"records":[]}`,
		`{"records":[` + strings.Repeat(`[`, 2000) + strings.Repeat(`]`, 2000) + `]}`,
		`{"records":[{"identity":` + strings.Repeat(`{"a":`, 3000) + `1` + strings.Repeat(`}`, 3000) + `}]}`,
		strings.Repeat(`{"records":`, 500),
		`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":"/subscriptions/s/resourceGroups/rg/../../../subscriptions/o","operationName":"a/write"},{"time":"2019-01-21T22:14:26Z","resourceId":"/subscriptions/s/resourceGroups/r%2e","operationName":"a/write"}]}`,
		`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":"/subscriptions/s\\x\u0001/","operationName":"a/write"}]}`,
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
		var env struct {
			Records []json.RawMessage `json:"records"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("Decode accepted a body encoding/json cannot read: %v", err)
		}
		if n := len(got.Changes) + len(got.Rejected) + got.Ignored; n != len(env.Records) {
			t.Fatalf("%d changes + %d rejected + %d ignored = %d, want the %d records",
				len(got.Changes), len(got.Rejected), got.Ignored, n, len(env.Records))
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
	case guard.OutcomeSucceeded, guard.OutcomeStarted, guard.OutcomeFailed, guard.OutcomeUnknown:
	default:
		t.Fatalf("change %+v has outcome %q", c, c.Outcome)
	}
	switch c.Action {
	case guard.ActionWrite, guard.ActionDelete, guard.ActionAction:
	default:
		t.Fatalf("change %+v has action %q", c, c.Action)
	}
	if c.Source != guard.SourceEventHub || c.Resource != nil || c.EventTime.Location() != time.UTC {
		t.Fatalf("change %+v: want source eventhub, no resource, UTC time", c)
	}
}
