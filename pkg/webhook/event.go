package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
)

// DefaultSource is the events' source when no public URL is configured.
const DefaultSource = "urn:exportguard"

// ContentType is the structured-mode content type of a CloudEvent in JSON.
const ContentType = event.ApplicationCloudEventsJSON + "; charset=UTF-8"

// Type is the CloudEvents type of a message.
func Type(m notify.Message) string {
	if m.Test {
		return "com.exportguard.notify.test"
	}
	switch m.Event {
	case notify.EventExemptionExpired:
		return "com.exportguard.finding.exemption.expired"
	case notify.EventRemediationApplied:
		return "com.exportguard.finding.remediation.applied"
	case notify.EventRemediationFailed:
		return "com.exportguard.finding.remediation.failed"
	}
	return "com.exportguard.finding." + string(m.Event)
}

// NewEvent is the CloudEvent of a message: the finding (DESIGN 3.4) as data.
func NewEvent(id string, m notify.Message) (event.Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	src := m.Origin
	if src == "" {
		src = DefaultSource
	}
	e.SetSource(src)
	e.SetType(Type(m))
	e.SetSubject(m.Finding.ResourceID)
	e.SetTime(m.At.UTC())
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m.Finding); err != nil {
		return e, fmt.Errorf("webhook: encode finding %s: %w", m.Finding.ID, err)
	}
	// The finding's JSON as it is: SetData would take bytes for base64 data.
	e.SetDataContentType(event.ApplicationJSON)
	e.DataEncoded, e.DataBase64 = bytes.TrimRight(data.Bytes(), "\n"), false
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("webhook: event for finding %s: %w", m.Finding.ID, err)
	}
	return e, nil
}

// Render is the request body for one message: the event in structured JSON.
func Render(id string, m notify.Message) (notify.Body, error) {
	e, err := NewEvent(id, m)
	if err != nil {
		return notify.Body{}, err
	}
	b, err := format.JSON.Marshal(&e)
	if err != nil {
		return notify.Body{}, fmt.Errorf("webhook: marshal event: %w", err)
	}
	return notify.Body{Data: b, ContentType: ContentType}, nil
}

// Limits let ten events go at once, then five a second, at least 50ms apart.
var Limits = notify.Limits{Burst: 10, Every: 200 * time.Millisecond, Spacing: 50 * time.Millisecond}

// Config configures the webhook sender; see notify.SenderConfig for the fields.
type Config struct {
	URL     string
	Ledger  guard.Ledger
	Outbox  guard.Outbox
	Log     *slog.Logger
	Testing notify.TestOptions
}

// NewSender returns the sender of notify.webhook items to one URL.
func NewSender(c Config) (*notify.Sender, error) {
	return notify.NewSender(notify.SenderConfig{Target: "webhook", Kind: notify.KindWebhook, URL: c.URL,
		Render: Render, Limits: Limits, Ledger: c.Ledger, Outbox: c.Outbox, Log: c.Log, Testing: c.Testing})
}
