package cli

import (
	"net/url"
	"strings"

	"github.com/exportguard/exportguard/pkg/rules"
)

// appHub is the Event Hub the activitylog function listens on, from the
// settings its function.json reads (the connection ActivityLogEventHub and
// %ActivityLogEventHubName%, as doctor checks them): the namespace from
// ActivityLogEventHub__fullyQualifiedNamespace, or from the Endpoint of a
// connection string in ActivityLogEventHub (its key is never read), and the hub
// from ActivityLogEventHubName. monitoring.activity-log compares diagnostic
// settings with it; unset (replay on a laptop), it is not known.
func appHub(getenv func(string) string) rules.EventHub {
	const conn = "ActivityLogEventHub"
	ns := strings.TrimSpace(getenv(conn + "__fullyQualifiedNamespace"))
	if ns == "" {
		for _, part := range strings.Split(getenv(conn), ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(k, "Endpoint") {
				if u, err := url.Parse(strings.TrimSpace(v)); err == nil {
					ns = u.Hostname()
				}
			}
		}
	}
	if strings.ContainsAny(ns, "<>") {
		ns = "" // the sample's placeholder
	}
	return rules.EventHub{Namespace: ns, Name: strings.TrimSpace(getenv("ActivityLogEventHubName"))}
}
