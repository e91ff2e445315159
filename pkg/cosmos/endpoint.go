package cosmos

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseURL reads the store URL that follows "cosmos:" in --store and
// EXPORTGUARD_STORE: https://HOST:PORT/?database=NAME, with an optional
// ensureContainers=true|false (see Options.EnsureContainers; default false).
// http:// is for loopback hosts only. The key is never part of the URL (the
// caller takes it from the environment): a URL that carries one is refused, and
// the errors name the host, never the query.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, errors.New("cosmos: store URL is not a URL (want https://HOST:PORT/?database=NAME)")
	}
	q := u.Query()
	for name := range q {
		switch name {
		case "database", "ensureContainers":
		default:
			if strings.Contains(strings.ToLower(name), "key") || strings.Contains(strings.ToLower(name), "secret") {
				return Options{}, fmt.Errorf("cosmos: store URL for %s: parameter %q: the account key goes in COSMOS_KEY, never in the URL", u.Host, name)
			}
			return Options{}, fmt.Errorf("cosmos: store URL for %s: unknown parameter %q (want database, ensureContainers)", u.Host, name)
		}
	}
	o := Options{Database: q.Get("database")}
	if v := q.Get("ensureContainers"); v != "" {
		if o.EnsureContainers, err = strconv.ParseBool(v); err != nil {
			return Options{}, fmt.Errorf("cosmos: store URL for %s: ensureContainers=%q: want true or false", u.Host, v)
		}
	}
	u.RawQuery, u.Fragment = "", ""
	o.Endpoint = u.String()
	// The key is not known yet: check the endpoint as if there were one; Open
	// checks again with what it has.
	if _, err := checkEndpoint(o.Endpoint, true); err != nil {
		return Options{}, fmt.Errorf("cosmos: store URL: %w", err)
	}
	if err := checkName(o.Database); err != nil {
		return Options{}, fmt.Errorf("cosmos: store URL for %s: database: %w (want ?database=NAME)", u.Host, err)
	}
	return o, nil
}

// checkEndpoint parses an account endpoint and enforces the transport rule:
// https anywhere, plain http only to a loopback host (the local server, which
// cannot serve TLS usefully) and only with a key, since Entra ID tokens must
// not travel in the clear. TLS certificate checks are never switched off.
func checkEndpoint(raw string, haveKey bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("no endpoint (want https://ACCOUNT.documents.azure.com:443/)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("endpoint is not an absolute URL (want https://ACCOUNT.documents.azure.com:443/)")
	}
	if u.User != nil {
		return nil, fmt.Errorf("endpoint %s: user information in the URL is refused (the key goes in COSMOS_KEY)", u.Hostname())
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %s: want the account root, with no path or query", u.Host)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("endpoint http://%s: plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https", u.Host)
		}
		if !haveKey {
			return nil, fmt.Errorf("endpoint http://%s: plain http needs an account key (COSMOS_KEY): Entra ID tokens are sent over https only", u.Host)
		}
	default:
		return nil, fmt.Errorf("endpoint %s: scheme %q: want https (or http to a loopback host)", u.Host, u.Scheme)
	}
	return &url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: "/"}, nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkName checks a database name: Cosmos DB IDs cannot hold / \ ? #.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("no name")
	case len(name) > 255:
		return errors.New("name longer than 255 characters")
	case strings.ContainsAny(name, `/\?#`), strings.TrimSpace(name) != name:
		return fmt.Errorf("name %q: no / \\ ? # or surrounding spaces allowed", name)
	}
	return nil
}
