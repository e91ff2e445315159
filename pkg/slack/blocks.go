package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/exportguard/exportguard/pkg/notify"
)

// Payload is the body an incoming webhook takes: text (the notification
// fallback, also what screen readers read) and the Block Kit blocks.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a header, section, context, divider or actions block.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Elem `json:"elements,omitempty"`
}

// Text is a plain_text or mrkdwn text object.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Elem is an element of a context block (a text object) or of an actions block
// (a link button).
type Elem struct {
	Type     string `json:"type"`
	Text     any    `json:"text,omitempty"`
	URL      string `json:"url,omitempty"`
	Style    string `json:"style,omitempty"`
	ActionID string `json:"action_id,omitempty"`
}

// Block Kit limits (api.slack.com, Block Kit reference).
const (
	maxHeader  = 150
	maxSection = 3000
	maxField   = 2000
	maxBlocks  = 50
)

// Escape makes text safe in mrkdwn: &, < and > are control characters (a
// "<!channel>" in a resource name would otherwise ping everyone).
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func mrkdwn(s string, n int) *Text { return &Text{Type: "mrkdwn", Text: cut(s, n)} }

func cloudName(cloud string) string {
	if cloud == "AzureUSGovernment" {
		return "Azure Government"
	}
	return "Azure"
}

func icon(m notify.Message) string {
	if m.Test {
		return ":large_blue_circle:"
	}
	switch m.Event.Tone() {
	case "good":
		return ":large_green_circle:"
	case "warning":
		return ":large_yellow_circle:"
	}
	return ":red_circle:"
}

// link is a mrkdwn link; the URL's own | and > would end it early.
func link(url, label string) string {
	url = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(url)
	return "<" + url + "|" + Escape(label) + ">"
}

// NewPayload is the Block Kit message of one notification: the same content as
// the Teams card.
func NewPayload(m notify.Message) Payload {
	r := m.Resource
	field := func(title, value string) Text {
		return Text{Type: "mrkdwn", Text: cut("*"+title+"*\n"+value, maxField)}
	}
	fields := []Text{
		field("Resource", link(m.Links.Portal, r.Name)),
		field("Type", Escape(r.Type)),
		field("Subscription", Escape(r.SubscriptionID)),
		field("Region", Escape(r.RegionText())),
		field("Who", Escape(m.Who)),
		field("When", Escape(m.WhenText())),
		field("Rule", "`"+Escape(m.Finding.Rule)+"`"),
		field("Status", Escape(m.Status)),
	}
	if r.ResourceGroup != "" {
		fields = append(fields[:3], append([]Text{field("Resource group", Escape(r.ResourceGroup))}, fields[3:]...)...)
	}
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: cut(m.Headline(), maxHeader), Emoji: true}},
		{Type: "context", Elements: []Elem{{Type: "mrkdwn", Text: icon(m) + " " + m.SeverityText() + " · " + cloudName(m.Cloud) + " · exportguard"}}},
		{Type: "section", Text: mrkdwn(Escape(m.Finding.Message), maxSection)},
		{Type: "section", Fields: fields},
	}
	if m.Evidence != "" {
		blocks = append(blocks, Block{Type: "context", Elements: []Elem{{Type: "mrkdwn", Text: cut(Escape(m.Evidence), maxSection)}}})
	}
	blocks = append(blocks, Block{Type: "section", Text: mrkdwn("*What to do next:* "+Escape(m.NextStep), maxSection)})
	buttons := []Elem{{Type: "button", Text: Text{Type: "plain_text", Text: "Open in the " + cloudName(m.Cloud) + " portal"}, URL: m.Links.Portal, ActionID: "portal"}}
	if m.Links.Approve != "" {
		buttons = append(buttons, Elem{Type: "button", Text: Text{Type: "plain_text", Text: "Approve remediation"}, URL: m.Links.Approve, Style: "primary", ActionID: "approve"})
	}
	if m.Links.Deny != "" {
		buttons = append(buttons, Elem{Type: "button", Text: Text{Type: "plain_text", Text: "Deny remediation"}, URL: m.Links.Deny, Style: "danger", ActionID: "deny"})
	}
	blocks = append(blocks, Block{Type: "actions", Elements: buttons})
	return Payload{Text: fallback(m), Blocks: blocks}
}

// fallback is the notification text: the headline and the finding's message.
func fallback(m notify.Message) string {
	return Escape(m.Headline() + ": " + m.Finding.Message)
}

// NewDigestPayload folds a burst of notifications into one message: a section
// per notification with its portal link and, where the remediation waits for
// an approver, its approve and deny links.
func NewDigestPayload(ms []notify.Message) Payload {
	span := notify.Span(ms)
	title := fmt.Sprintf("%d findings changed state", len(ms))
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: title, Emoji: true}},
		{Type: "context", Elements: []Elem{{Type: "mrkdwn", Text: Escape(cloudName(ms[0].Cloud) + " · exportguard · " + span)}}},
	}
	for _, m := range ms {
		if len(blocks) >= maxBlocks-1 {
			break
		}
		r := m.Resource
		s := fmt.Sprintf("%s *%s* · %s · `%s`\n%s · %s · %s · %s · %s\n%s\n*Next:* %s",
			icon(m), Escape(m.Event.Title()), m.SeverityText(), Escape(m.Finding.Rule),
			link(m.Links.Portal, r.Name), Escape(r.Type), Escape(r.RegionText()), Escape(m.WhenText()), Escape(m.Who),
			Escape(m.Finding.Message), Escape(m.NextStep))
		if m.Links.Approve != "" && m.Links.Deny != "" {
			s += "\n" + link(m.Links.Approve, "Approve remediation") + " · " + link(m.Links.Deny, "Deny remediation")
		}
		blocks = append(blocks, Block{Type: "divider"}, Block{Type: "section", Text: mrkdwn(s, maxSection)})
	}
	return Payload{Text: Escape(title + " (exportguard)"), Blocks: blocks}
}

// Render is the request body for one notification.
func Render(_ string, m notify.Message) (notify.Body, error) { return encode(NewPayload(m)) }

// RenderDigest is the request body for a burst of notifications.
func RenderDigest(_ string, ms []notify.Message) (notify.Body, error) {
	if len(ms) == 0 {
		return notify.Body{}, fmt.Errorf("slack: an empty digest")
	}
	return encode(NewDigestPayload(ms))
}

func encode(p Payload) (notify.Body, error) {
	if len(p.Blocks) > maxBlocks {
		return notify.Body{}, fmt.Errorf("slack: %d blocks, over Slack's %d", len(p.Blocks), maxBlocks)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return notify.Body{}, err
	}
	return notify.Body{Data: []byte(b.String()), ContentType: "application/json"}, nil
}
