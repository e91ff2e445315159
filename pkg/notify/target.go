package notify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// ResolveURL turns a policy's notify URL into the URL itself: env:NAME reads
// the environment variable NAME (through getenv) at the time of the call, any
// other value is the URL. The errors name the variable, never its value.
func ResolveURL(spec string, getenv func(string) string) (string, error) {
	spec = strings.TrimSpace(spec)
	name, ok := strings.CutPrefix(spec, "env:")
	if !ok {
		return spec, nil
	}
	if !validEnvName(name) {
		return "", fmt.Errorf("env:%s is not a valid environment variable name", name)
	}
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkURL accepts an https URL with a host, and a plain http one only to a
// loopback address when a test allows it. The errors never repeat the URL.
func checkURL(raw string, allowLoopbackHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if !allowLoopbackHTTP {
			return nil, errors.New("must be https")
		}
		if !isLoopback(u.Hostname()) {
			return nil, errors.New("plain http is allowed only to a loopback address, in tests")
		}
		return u, nil
	}
	return nil, errors.New("must be https")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactor scrubs a URL and its parts from text a target answered or an error
// the HTTP client made.
type redactor struct{ secrets []string }

func newRedactor(u *url.URL) redactor {
	set := map[string]bool{}
	add := func(s string) {
		if len(s) >= 4 {
			set[s] = true
		}
	}
	add(u.String())
	add(u.Redacted())
	add(u.Host)
	add(u.Hostname())
	if p := u.EscapedPath(); len(p) > 1 {
		add(p)
		add(u.Path)
		for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
			if len(seg) >= 12 { // tokens and IDs, not words like "services"
				add(seg)
			}
		}
	}
	add(u.RawQuery)
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	if u.User != nil {
		add(u.User.String())
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	// Longest first, so that a URL goes before the host inside it.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return redactor{out}
}

func (r redactor) scrub(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
