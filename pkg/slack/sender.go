package slack

import (
	"log/slog"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
)

// Limits keep an incoming webhook near Slack's rate of one message a second:
// three at once, then one a second, at least 500ms apart, a burst beyond that
// folded into digests of up to 10 notifications.
var Limits = notify.Limits{Burst: 3, Every: time.Second, Spacing: 500 * time.Millisecond, MaxDigest: 10}

// Config configures the Slack sender; see notify.SenderConfig for the fields.
type Config struct {
	URL     string
	Ledger  guard.Ledger
	Outbox  guard.Outbox
	Log     *slog.Logger
	Testing notify.TestOptions
}

// NewSender returns the sender of notify.slack items to one incoming webhook.
func NewSender(c Config) (*notify.Sender, error) {
	return notify.NewSender(notify.SenderConfig{Target: "slack", Kind: notify.KindSlack, URL: c.URL,
		Render: Render, RenderDigest: RenderDigest, Limits: Limits,
		Ledger: c.Ledger, Outbox: c.Outbox, Log: c.Log, Testing: c.Testing})
}
