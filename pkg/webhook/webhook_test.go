package webhook_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func newSender(url string, st guard.Store) (*notify.Sender, error) {
	c := webhook.Config{URL: url, Testing: notifytest.NoWait()}
	if st != nil {
		c.Ledger, c.Outbox = st, st
	}
	return webhook.NewSender(c)
}

// Every event is posted to a loopback server and compared byte for byte with
// its golden file; each reads back as a valid CloudEvent whose data is the
// finding as DESIGN 3.4 gives it.
func TestEventsSentMatchGolden(t *testing.T) {
	got := notifytest.PostCases(t, notify.KindWebhook, newSender, false, nil)
	cases := map[string]notify.Message{}
	for _, c := range notifytest.Cases(t) {
		cases[c.Name] = c.Message
	}
	wantType := map[string]string{
		"opened-public":             "com.exportguard.finding.opened",
		"opened-gov-approve":        "com.exportguard.finding.opened",
		"reopened-public-auto":      "com.exportguard.finding.reopened",
		"resolved-public":           "com.exportguard.finding.resolved",
		"exemption-expired-public":  "com.exportguard.finding.exemption.expired",
		"exempted-gov":              "com.exportguard.finding.exempted",
		"remediation-applied-gov":   "com.exportguard.finding.remediation.applied",
		"remediation-failed-public": "com.exportguard.finding.remediation.failed",
		"test-public":               "com.exportguard.notify.test",
		"test-gov":                  "com.exportguard.notify.test",
	}
	for _, name := range notifytest.Sorted(got) {
		req := got[name]
		if req.ContentType != "application/cloudevents+json; charset=UTF-8" {
			t.Errorf("%s: Content-Type %q, want structured mode", name, req.ContentType)
		}
		var e event.Event
		if err := format.JSON.Unmarshal(req.Body, &e); err != nil {
			t.Fatalf("%s: not a CloudEvent: %v", name, err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		m := cases[name]
		if e.Type() != wantType[name] || e.Subject() != m.Finding.ResourceID || !e.Time().Equal(m.At) || e.SpecVersion() != "1.0" {
			t.Errorf("%s: type %q subject %q time %v", name, e.Type(), e.Subject(), e.Time())
		}
		var data guard.Finding
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			t.Fatalf("%s: data: %v", name, err)
		}
		if diff := cmp.Diff(m.Finding, data); diff != "" {
			t.Errorf("%s: data is not the finding (-want +got):\n%s", name, diff)
		}
	}
	notifytest.MatchGolden(t, got, *update, "event")
}

// The event ID is the outbox item's: the same for every attempt at one
// transition, different for another transition or another target.
func TestEventIDIsStablePerTransition(t *testing.T) {
	m := notifytest.Cases(t)[0].Message
	it := notifytest.Item(t, notify.KindWebhook, m)
	a, err := webhook.Render(it.ID, m)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := webhook.Render(it.ID, m)
	if !bytes.Equal(a.Data, b.Data) {
		t.Error("rendering one item twice gives two bodies")
	}
	var e event.Event
	if err := format.JSON.Unmarshal(a.Data, &e); err != nil || e.ID() != it.ID {
		t.Errorf("event id %q, want the item's %q (%v)", e.ID(), it.ID, err)
	}
	if e.Source() != webhook.DefaultSource {
		t.Errorf("source %q without a public URL", e.Source())
	}
}
