package cli

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
	"github.com/exportguard/exportguard/pkg/slack"
	"github.com/exportguard/exportguard/pkg/teams"
	"github.com/exportguard/exportguard/pkg/webhook"
)

// envPublicURL is where exportguard's API is reached from a browser: the
// approve and deny links of notifications point below it.
const envPublicURL = "EXPORTGUARD_PUBLIC_URL"

// notifyTarget is one configured target: its name, outbox kind and the URL as
// the policy writes it (a URL, or env:NAME).
type notifyTarget struct{ name, kind, spec string }

func notifyTargets(pol *guard.Policy) []notifyTarget {
	var out []notifyTarget
	for _, t := range []notifyTarget{
		{"teams", notify.KindTeams, pol.Notify.Teams.URL},
		{"slack", notify.KindSlack, pol.Notify.Slack.URL},
		{"webhook", notify.KindWebhook, pol.Notify.Webhook.URL},
	} {
		if strings.TrimSpace(t.spec) != "" {
			out = append(out, t)
		}
	}
	return out
}

// notifyPlanner is the notification planner of a policy: one item per
// configured target for each transition. The remediation wiring may build one
// too and call PlanRemediation (or EnqueueRemediation) when an action was
// applied or failed.
func (a *App) notifyPlanner(pol *guard.Policy) (*notify.Planner, error) {
	var kinds []string
	for _, t := range notifyTargets(pol) {
		kinds = append(kinds, t.kind)
	}
	return notify.NewPlanner(notify.Config{Cloud: pol.Cloud, PublicURL: a.getenv(envPublicURL), Kinds: kinds})
}

// notifySenders builds a sender per configured target, reading env:NAME URLs
// from the environment now. Errors name the policy key, never the URL.
func (a *App) notifySenders(pol *guard.Policy, st guard.Store, log *slog.Logger) ([]*notify.Sender, error) {
	var out []*notify.Sender
	for _, t := range notifyTargets(pol) {
		url, deprecated, err := resolveNotifyURL(t.spec, a.getenv)
		if err != nil {
			return nil, fmt.Errorf("notify.%s.url: %w", t.name, err)
		}
		if deprecated != "" && log != nil {
			log.Warn("notify."+t.name+".url: "+deprecated, "target", t.name)
		}
		var s *notify.Sender
		switch t.kind {
		case notify.KindTeams:
			s, err = teams.NewSender(teams.Config{URL: url, Ledger: st, Outbox: st, Log: log, Testing: a.Notify})
		case notify.KindSlack:
			s, err = slack.NewSender(slack.Config{URL: url, Ledger: st, Outbox: st, Log: log, Testing: a.Notify})
		case notify.KindWebhook:
			s, err = webhook.NewSender(webhook.Config{URL: url, Ledger: st, Outbox: st, Log: log, Testing: a.Notify})
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// notifyParts builds the notification planners and senders (Teams, Slack,
// CloudEvents webhook) the policy's notify targets ask for.
func (a *App) notifyParts(pol *guard.Policy, st guard.Store, log *slog.Logger) ([]guard.Planner, map[string]guard.Sender, error) {
	if len(notifyTargets(pol)) == 0 {
		return nil, nil, nil
	}
	planner, err := a.notifyPlanner(pol)
	if err != nil {
		return nil, nil, err
	}
	ss, err := a.notifySenders(pol, st, log)
	if err != nil {
		return nil, nil, err
	}
	senders := map[string]guard.Sender{}
	var names []string
	for _, s := range ss {
		senders[s.Kind()] = s
		names = append(names, s.Target())
	}
	if log != nil {
		log.Debug("notification targets", "targets", strings.Join(names, ","), "approvalLinks", a.getenv(envPublicURL) != "")
	}
	return []guard.Planner{planner}, senders, nil
}
