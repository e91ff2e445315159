package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Config is what a Planner needs besides the transitions.
type Config struct {
	Cloud string // the policy's cloud: AzureCloud or AzureUSGovernment
	// PublicURL is where exportguard's API is reached (EXPORTGUARD_PUBLIC_URL):
	// the approve and deny links point below it. Without it, messages carry no
	// such links.
	PublicURL string
	// Kinds are the configured targets (KindTeams, KindSlack, KindWebhook): one
	// item per kind for each transition.
	Kinds []string
}

// Planner is the guard.Planner of notifications: for each transition people
// are told of, one outbox item per configured target.
type Planner struct {
	cloud, publicURL string
	kinds            []string
}

var _ guard.Planner = (*Planner)(nil)

// NewPlanner checks the configuration and returns a planner.
func NewPlanner(c Config) (*Planner, error) {
	p := &Planner{cloud: c.Cloud}
	if p.cloud == "" {
		p.cloud = "AzureCloud"
	}
	if p.cloud != "AzureCloud" && p.cloud != "AzureUSGovernment" {
		return nil, fmt.Errorf("notify: cloud %q is not AzureCloud or AzureUSGovernment", c.Cloud)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("notify: the public URL (EXPORTGUARD_PUBLIC_URL) must be an absolute http(s) URL without query or fragment")
		}
		p.publicURL = strings.TrimRight(c.PublicURL, "/")
	}
	seen := map[string]bool{}
	for _, k := range c.Kinds {
		switch k {
		case KindTeams, KindSlack, KindWebhook:
		default:
			return nil, fmt.Errorf("notify: unknown target kind %q", k)
		}
		if !seen[k] {
			seen[k] = true
			p.kinds = append(p.kinds, k)
		}
	}
	return p, nil
}

// Plan returns one item per target for a transition people are told of (see
// the package doc), and none for the others.
func (p *Planner) Plan(_ context.Context, t guard.Transition) ([]guard.OutboxItem, error) {
	e, ok := eventOf(t.From, t.Finding.Status)
	if !ok || len(p.kinds) == 0 {
		return nil, nil
	}
	m := p.Message(t.Finding, t.From, e, t.Finding.LastSeen, "", t.Resource, t.Previous)
	return p.items(m, string(t.Finding.Status), time.Time{})
}

// RemediationOutcome is what the remediation engine reports about a finding.
type RemediationOutcome struct {
	// Finding as stored after the outcome: Remediation.Status is "applied" or
	// "failed".
	Finding guard.Finding
	// At is when it was applied, or failed; when zero, the "at" of the record
	// the remediation engine keeps in the finding's evidence (guard.EvidenceRemediation).
	At time.Time
	// Detail says what was done, or why it failed, in a sentence (no secrets);
	// when empty, the record's "reason".
	Detail string
	// Resource is the resource's state, when known (for its region).
	Resource *guard.Resource
}

// PlanRemediation returns the notification items for a remediation outcome,
// one per target, due at o.At: the remediation engine enqueues them (see
// EnqueueRemediation) from the hook it calls once an action was applied or
// failed. The IDs are deterministic in the finding, the outcome, its time and
// the target, like those of transitions.
func (p *Planner) PlanRemediation(o RemediationOutcome) ([]guard.OutboxItem, error) {
	var e Event
	switch o.Finding.Remediation.Status {
	case "applied":
		e = EventRemediationApplied
	case "failed":
		e = EventRemediationFailed
	default:
		return nil, fmt.Errorf("notify: remediation status %q of finding %s is not applied or failed", o.Finding.Remediation.Status, o.Finding.ID)
	}
	var rec struct { // what notify reads of the remediation engine's record
		At     time.Time `json:"at"`
		Reason string    `json:"reason"`
	}
	guard.DecodeEvidence(o.Finding.Evidence, guard.EvidenceRemediation, &rec)
	if o.At.IsZero() {
		o.At = rec.At
	}
	if o.At.IsZero() {
		return nil, fmt.Errorf("notify: remediation outcome of finding %s has no time", o.Finding.ID)
	}
	if o.Detail == "" {
		o.Detail = rec.Reason
	}
	m := p.Message(o.Finding, o.Finding.Status, e, o.At, o.Detail, o.Resource, nil)
	return p.items(m, string(e), o.At.UTC())
}

// EnqueueRemediation plans the notifications of a remediation outcome and
// puts them in the outbox; the dispatcher delivers them with the rest.
func (p *Planner) EnqueueRemediation(ctx context.Context, out guard.Outbox, o RemediationOutcome) error {
	items, err := p.PlanRemediation(o)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := out.Enqueue(ctx, it); err != nil {
			return fmt.Errorf("notify: enqueue %s for finding %s: %w", it.Kind, o.Finding.ID, err)
		}
	}
	return nil
}

// Message builds the neutral message of an event about a finding.
func (p *Planner) Message(f guard.Finding, from guard.Status, e Event, at time.Time, detail string, states ...*guard.Resource) Message {
	at = at.UTC()
	links := Links{Portal: PortalURL(p.cloud, f.ResourceID)}
	open := e == EventOpened || e == EventReopened || e == EventExemptionExpired
	if open && p.publicURL != "" && f.Remediation.Mode == guard.RemediationApprove && f.Remediation.Status == "awaiting-approval" {
		base := p.publicURL + "/api/findings/" + url.PathEscape(f.ID)
		links.Approve, links.Deny = base+"/approve", base+"/deny"
	}
	detail = truncate(strings.Join(strings.Fields(detail), " "), 500)
	return Message{
		Version: PayloadVersion, Event: e, Cloud: p.cloud, At: at,
		Finding: f, From: from,
		Resource: resourceInfo(f, states...),
		Who:      who(f, e),
		Evidence: EvidenceSentence(f.Evidence, e == EventResolved),
		Status:   statusText(f),
		NextStep: nextStep(f, e, links, detail, at),
		Detail:   detail,
		Links:    links,
		Origin:   p.publicURL,
	}
}

// items makes one outbox item per target for a message; the ID hashes the
// finding, the new status, the time of the transition and the target.
func (p *Planner) items(m Message, status string, due time.Time) ([]guard.OutboxItem, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("notify: encode message for finding %s: %w", m.Finding.ID, err)
	}
	out := make([]guard.OutboxItem, 0, len(p.kinds))
	for _, k := range p.kinds {
		out = append(out, guard.OutboxItem{ID: ItemID(m.Finding.ID, status, m.At, k), Partition: guard.PartitionOf(m.Finding.ResourceID), Kind: k, Payload: payload,
			CreatedAt: due, NextAttempt: due})
	}
	return out, nil
}

// ItemID is the outbox item ID of a notification: the finding, its new status
// (or remediation outcome), the time of the change and the target kind.
func ItemID(findingID, status string, at time.Time, kind string) string {
	sum := sha256.Sum256([]byte("notify\x00" + findingID + "\x00" + status + "\x00" + at.UTC().Format(time.RFC3339Nano) + "\x00" + kind))
	return hex.EncodeToString(sum[:16])
}

// DecodeMessage reads an item's payload.
func DecodeMessage(payload []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("notify: payload is not a message: %w", err)
	}
	if m.Version != PayloadVersion {
		return m, fmt.Errorf("notify: payload version %d, want %d", m.Version, PayloadVersion)
	}
	return m, nil
}
