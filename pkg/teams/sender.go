package teams

import (
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
)

// Limits keep a Teams webhook under its documented rate (4 requests a second,
// 60 in 30 seconds): four at once, then one every two seconds, at least 300ms
// apart, a burst beyond that folded into digests of up to 10 cards.
var Limits = notify.Limits{Burst: 4, Every: 2 * time.Second, Spacing: 300 * time.Millisecond, MaxDigest: 10}

// Config configures the Teams sender; see notify.SenderConfig for the fields.
type Config struct {
	URL     string
	Ledger  guard.Ledger
	Outbox  guard.Outbox
	Log     *slog.Logger
	Testing notify.TestOptions
}

// NewSender returns the sender of notify.teams items to one webhook URL.
func NewSender(c Config) (*notify.Sender, error) {
	return notify.NewSender(notify.SenderConfig{Target: "teams", Kind: notify.KindTeams, URL: c.URL,
		Render: Render, RenderDigest: RenderDigest, Check: Check, Limits: Limits,
		Ledger: c.Ledger, Outbox: c.Outbox, Log: c.Log, Testing: c.Testing})
}

var connectorError = regexp.MustCompile(`Microsoft Teams endpoint returned HTTP error (\d{3})`)

// Check reads the failure a connector reports in the body of a 200.
func Check(status int, body []byte) int {
	if m := connectorError.FindSubmatch(body); m != nil {
		if code, err := strconv.Atoi(string(m[1])); err == nil {
			return code
		}
	}
	return status
}
