package eventhubs

import (
	"fmt"
	"strings"
)

// Cloud names, as the policy file spells them (DESIGN 3.5).
const (
	CloudPublic     = "AzureCloud"
	CloudGovernment = "AzureUSGovernment"
)

// Suffixes of Event Hubs namespace host names, by cloud.
var suffixes = map[string]string{
	CloudPublic:     "servicebus.windows.net",
	CloudGovernment: "servicebus.usgovcloudapi.net",
}

// Suffix returns the Event Hubs host name suffix of a cloud ("" is AzureCloud).
func Suffix(cloud string) (string, error) {
	if cloud == "" {
		cloud = CloudPublic
	}
	s, ok := suffixes[cloud]
	if !ok {
		return "", fmt.Errorf("eventhubs: unknown cloud %q (want %s or %s)", cloud, CloudPublic, CloudGovernment)
	}
	return s, nil
}

// CloudOf returns the cloud a namespace host name belongs to, or "" when its
// suffix is not one this package knows (a private endpoint alias, an emulator).
func CloudOf(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for cloud, s := range suffixes {
		if strings.HasSuffix(h, "."+s) {
			return cloud
		}
	}
	return ""
}

// Target is one event hub.
type Target struct {
	Namespace string // fully qualified host name, e.g. guard.servicebus.usgovcloudapi.net
	Hub       string // event hub name, e.g. insights-activity-logs
	Cloud     string // the cloud the namespace is in (AzureCloud, AzureUSGovernment), "" when unknown
}

func (t Target) String() string { return t.Namespace + "/" + t.Hub }

// ParseTarget reads NAMESPACE/HUB. NAMESPACE is a fully qualified host name
// (anything with a dot; an sb:// or amqps:// prefix is allowed), whose suffix
// names its cloud when it is a known one, or a short namespace name, which gets
// cloud's suffix (cloud "" is AzureCloud). A host name whose suffix contradicts
// an explicit cloud is refused, rather than signing in at the wrong authority.
func ParseTarget(s, cloud string) (Target, error) {
	raw := strings.TrimSpace(s)
	for _, scheme := range []string{"sb://", "amqps://"} {
		if len(raw) > len(scheme) && strings.EqualFold(raw[:len(scheme)], scheme) {
			raw = raw[len(scheme):]
		}
	}
	ns, hub, ok := strings.Cut(raw, "/")
	hub = strings.TrimSuffix(hub, "/")
	if !ok || ns == "" || hub == "" {
		return Target{}, fmt.Errorf("eventhubs: %q: want NAMESPACE/HUB (e.g. guard-eh/insights-activity-logs)", s)
	}
	if strings.Contains(hub, "/") {
		return Target{}, fmt.Errorf("eventhubs: %q: hub name %q has a slash", s, hub)
	}
	if strings.ContainsAny(ns, " \t:@?#") || strings.ContainsAny(hub, " \t?#") {
		return Target{}, fmt.Errorf("eventhubs: %q: not a namespace and hub name", s)
	}
	if !strings.Contains(ns, ".") {
		suffix, err := Suffix(cloud)
		if err != nil {
			return Target{}, err
		}
		if cloud == "" {
			cloud = CloudPublic
		}
		return Target{Namespace: strings.ToLower(ns) + "." + suffix, Hub: hub, Cloud: cloud}, nil
	}
	ns = strings.ToLower(strings.TrimSuffix(ns, "."))
	known := CloudOf(ns)
	if cloud != "" {
		if _, err := Suffix(cloud); err != nil {
			return Target{}, err
		}
		if known != "" && known != cloud {
			return Target{}, fmt.Errorf("eventhubs: namespace %s is in %s, not %s", ns, known, cloud)
		}
		if known == "" {
			known = cloud
		}
	}
	return Target{Namespace: ns, Hub: hub, Cloud: known}, nil
}

// ShortName reports whether s (NAMESPACE/HUB) names its namespace by a short
// name, which takes the suffix of the cloud in use, rather than a host name.
func ShortName(s string) bool {
	raw := strings.TrimSpace(s)
	for _, scheme := range []string{"sb://", "amqps://"} {
		if len(raw) > len(scheme) && strings.EqualFold(raw[:len(scheme)], scheme) {
			return false
		}
	}
	ns, _, _ := strings.Cut(raw, "/")
	return !strings.Contains(ns, ".")
}

// WithConnectionString returns t with the namespace a connection string's
// Endpoint names (sb://HOST[:PORT]), which is the one a client made from that
// connection string talks to; its cloud is the host's, when known. The
// connection string is not kept, and errors do not quote it.
func (t Target) WithConnectionString(cs string) (Target, error) {
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(k, "Endpoint") {
			continue
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "sb://"), "/")
		if host == "" || strings.ContainsAny(host, "/ ") {
			return Target{}, fmt.Errorf("eventhubs: the connection string's Endpoint is not sb://HOST")
		}
		t.Namespace, t.Cloud = host, CloudOf(strings.Split(host, ":")[0])
		return t, nil
	}
	return Target{}, fmt.Errorf("eventhubs: the connection string has no Endpoint")
}
