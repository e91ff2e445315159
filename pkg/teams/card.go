package teams

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/pkg/notify"
)

// ContentType is the attachment content type of an Adaptive Card.
const ContentType = "application/vnd.microsoft.card.adaptive"

// CardVersion is the Adaptive Card schema version of the cards (what Teams
// renders on desktop and web).
const CardVersion = "1.5"

// MaxBytes is the most a Teams message may weigh (28 KB, "Limits and
// specifications for Microsoft Teams").
const MaxBytes = 28 << 10

// Envelope is what a Teams Workflows webhook (and an incoming webhook) takes:
// a message with one Adaptive Card attachment. The Workflows template "Post to
// a channel when a webhook request is received" posts each attachment's content.
type Envelope struct {
	Type        string       `json:"type"` // "message"
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries one card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"` // null, as Microsoft's examples send it
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card, with the few elements exportguard uses.
type Card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"` // "AdaptiveCard"
	Version string    `json:"version"`
	MSTeams *MSTeams  `json:"msteams,omitempty"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
}

// MSTeams holds Teams' own card properties.
type MSTeams struct {
	Width string `json:"width,omitempty"` // "Full": the card takes the message's width
}

// Element is a TextBlock, a FactSet or a Container.
type Element struct {
	Type      string    `json:"type"`
	Text      string    `json:"text,omitempty"`
	Size      string    `json:"size,omitempty"`
	Weight    string    `json:"weight,omitempty"`
	Color     string    `json:"color,omitempty"`
	IsSubtle  bool      `json:"isSubtle,omitempty"`
	Wrap      bool      `json:"wrap,omitempty"`
	Spacing   string    `json:"spacing,omitempty"`
	Separator bool      `json:"separator,omitempty"`
	Style     string    `json:"style,omitempty"`
	Bleed     bool      `json:"bleed,omitempty"`
	Items     []Element `json:"items,omitempty"`
	Facts     []Fact    `json:"facts,omitempty"`
}

// Fact is one row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl: Teams webhooks take no Action.Submit.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
	Style string `json:"style,omitempty"`
}

func text(s string) Element { return Element{Type: "TextBlock", Text: s, Wrap: true} }

func cloudName(cloud string) string {
	if cloud == "AzureUSGovernment" {
		return "Azure Government"
	}
	return "Azure"
}

// NewCard is the Adaptive Card of one message: what happened, to which
// resource, who did it and when, the rule and why, the remediation status,
// what to do next, and links to the portal and to approve or deny.
func NewCard(m notify.Message) Card {
	style := m.Event.Tone()
	if m.Test {
		style = "emphasis"
	}
	head := Element{Type: "Container", Style: style, Bleed: true, Items: []Element{
		{Type: "TextBlock", Text: m.Headline(), Size: "Medium", Weight: "Bolder", Wrap: true},
		{Type: "TextBlock", Text: m.SeverityText() + " · " + cloudName(m.Cloud) + " · exportguard", IsSubtle: true, Spacing: "None", Wrap: true},
	}}
	r := m.Resource
	facts := []Fact{
		{"Resource", r.Name},
		{"Type", r.Type},
		{"Subscription", r.SubscriptionID},
	}
	if r.ResourceGroup != "" {
		facts = append(facts, Fact{"Resource group", r.ResourceGroup})
	}
	facts = append(facts,
		Fact{"Region", r.RegionText()},
		Fact{"Who", m.Who},
		Fact{"When", m.WhenText()},
		Fact{"Rule", m.Finding.Rule},
		Fact{"Status", m.Status},
	)
	body := []Element{head, text(m.Finding.Message), {Type: "FactSet", Facts: facts}}
	if m.Evidence != "" {
		body = append(body, Element{Type: "TextBlock", Text: m.Evidence, Size: "Small", IsSubtle: true, Wrap: true})
	}
	body = append(body, Element{Type: "TextBlock", Text: "**What to do next:** " + m.NextStep, Wrap: true, Separator: true})
	return Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: CardVersion,
		MSTeams: &MSTeams{Width: "Full"}, Body: body, Actions: actions(m)}
}

func actions(m notify.Message) []Action {
	as := []Action{{Type: "Action.OpenUrl", Title: "Open in the " + cloudName(m.Cloud) + " portal", URL: m.Links.Portal}}
	if m.Links.Approve != "" {
		as = append(as, Action{Type: "Action.OpenUrl", Title: "Approve remediation", URL: m.Links.Approve, Style: "positive"})
	}
	if m.Links.Deny != "" {
		as = append(as, Action{Type: "Action.OpenUrl", Title: "Deny remediation", URL: m.Links.Deny, Style: "destructive"})
	}
	return as
}

// NewDigestCard folds a burst of messages into one card: a short entry per
// message, each with its portal link and, where the remediation waits for an
// approver, its approve and deny links.
func NewDigestCard(ms []notify.Message) Card {
	style := "good"
	for _, m := range ms {
		if m.Event.Tone() == "attention" {
			style = "attention"
			break
		}
	}
	span := notify.Span(ms)
	body := []Element{{Type: "Container", Style: style, Bleed: true, Items: []Element{
		{Type: "TextBlock", Text: fmt.Sprintf("%d findings changed state", len(ms)), Size: "Medium", Weight: "Bolder", Wrap: true},
		{Type: "TextBlock", Text: cloudName(ms[0].Cloud) + " · exportguard · " + span, IsSubtle: true, Spacing: "None", Wrap: true},
	}}}
	for _, m := range ms {
		r := m.Resource
		items := []Element{
			text("**" + m.Event.Title() + "** · " + m.SeverityText() + " · " + m.Finding.Rule),
			{Type: "TextBlock", Text: fmt.Sprintf("[%s](%s) · %s · %s · %s · %s", r.Name, m.Links.Portal, r.Type, r.RegionText(), m.WhenText(), m.Who),
				IsSubtle: true, Spacing: "None", Wrap: true},
			text(m.Finding.Message),
			{Type: "TextBlock", Text: "**Next:** " + m.NextStep, Size: "Small", Wrap: true},
		}
		if m.Links.Approve != "" && m.Links.Deny != "" {
			items = append(items, text(fmt.Sprintf("[Approve remediation](%s) · [Deny remediation](%s)", m.Links.Approve, m.Links.Deny)))
		}
		body = append(body, Element{Type: "Container", Separator: true, Spacing: "Medium", Items: items})
	}
	return Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: CardVersion,
		MSTeams: &MSTeams{Width: "Full"}, Body: body}
}

// Wrap puts a card in the envelope a Teams webhook takes.
func Wrap(c Card) Envelope {
	return Envelope{Type: "message", Attachments: []Attachment{{ContentType: ContentType, Content: c}}}
}

// Render is the request body for one message.
func Render(_ string, m notify.Message) (notify.Body, error) {
	return encode(Wrap(NewCard(m)))
}

// RenderDigest is the request body for a burst of messages.
func RenderDigest(_ string, ms []notify.Message) (notify.Body, error) {
	if len(ms) == 0 {
		return notify.Body{}, fmt.Errorf("teams: an empty digest")
	}
	return encode(Wrap(NewDigestCard(ms)))
}

func encode(e Envelope) (notify.Body, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return notify.Body{}, err
	}
	if b.Len() > MaxBytes {
		return notify.Body{}, fmt.Errorf("teams: card of %d bytes is over Teams' %d", b.Len(), MaxBytes)
	}
	return notify.Body{Data: []byte(b.String()), ContentType: "application/json"}, nil
}
