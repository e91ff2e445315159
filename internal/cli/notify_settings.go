package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exportguard/exportguard/pkg/notify"
)

// notifyURLSettings are the settings that hold the notification targets' URLs,
// one name each, EXPORTGUARD_* like every other setting of the app: the policy
// reads them as notify.<target>.url: env:NAME, infra/ sets them from Key Vault,
// and the README, docs/ and the examples write them. Before issue 18 infra/
// set TEAMS_WEBHOOK_URL, SLACK_WEBHOOK_URL and NOTIFY_WEBHOOK_URL; deployments
// and their policies still name those, so either name is read for the other
// when it is unset, with a warning that says which to use.
var notifyURLSettings = []struct {
	target, name, old string
}{
	{"teams", "EXPORTGUARD_TEAMS_URL", "TEAMS_WEBHOOK_URL"},
	{"slack", "EXPORTGUARD_SLACK_URL", "SLACK_WEBHOOK_URL"},
	{"webhook", "EXPORTGUARD_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL"},
}

// resolveNotifyURL is notify.ResolveURL for a policy's target, reading an
// unset env:NAME of a setting above from the setting's other name. deprecated,
// when not empty, says which deprecated name was involved and what to do: the
// caller warns with it. The URL is never part of it.
func resolveNotifyURL(spec string, getenv func(string) string) (url, deprecated string, err error) {
	get := func(name string) string {
		if v := getenv(name); strings.TrimSpace(v) != "" {
			return v
		}
		for _, s := range notifyURLSettings {
			names := []string{s.name, s.old}
			if !slices.Contains(names, name) {
				continue
			}
			other := names[1-slices.Index(names, name)]
			v := getenv(other)
			if strings.TrimSpace(v) == "" {
				return ""
			}
			if name == s.old {
				deprecated = fmt.Sprintf("env:%s is a deprecated name (and not set): %s was read; write env:%s in the policy", s.old, s.name, s.name)
			} else {
				deprecated = fmt.Sprintf("%s is not set, and its deprecated name %s was read: rename the setting %s (infra/ sets %s)", s.name, s.old, s.name, s.name)
			}
			return v
		}
		return ""
	}
	url, err = notify.ResolveURL(spec, get)
	if err != nil {
		return "", "", err
	}
	return url, deprecated, nil
}
