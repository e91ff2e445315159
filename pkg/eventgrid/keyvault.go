package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// Key Vault key events (research note §3, S9/S10). Secret and certificate events
// share the data model but protect no customer-managed key, so they stay ignored.
const (
	keyNewVersionCreated = "Microsoft.KeyVault.KeyNewVersionCreated"
	keyNearExpiry        = "Microsoft.KeyVault.KeyNearExpiry"
	keyExpired           = "Microsoft.KeyVault.KeyExpired"
)

// TypeKeyVaultKey is the ARM type of a Key Vault key.
const TypeKeyVaultKey = "Microsoft.KeyVault/vaults/keys"

// keyEventType recognises a Key Vault key event and returns its canonical name.
func keyEventType(typ string) (string, bool) {
	for _, k := range []string{keyNewVersionCreated, keyNearExpiry, keyExpired} {
		if strings.EqualFold(strings.TrimSpace(typ), k) {
			return k, true
		}
	}
	return "", false
}

// maxUnixSeconds is 9999-12-31T23:59:59Z; NBF and EXP beyond it are not times.
const maxUnixSeconds = 253402300799

// keyChange turns a Key Vault key event into a change of the key's ARM resource
// (topic + "/keys/" + name), carrying the key's state as the event tells it,
// shaped like the ARM GET of a key (api-version 2023-07-01): id, name, type and
// properties.keyUri (versionless), keyUriWithVersion, attributes.nbf/exp (Unix
// seconds). attributes.nearExpiry or attributes.expired records what the event
// said, and fromEvent which event it was. The event does not say whether the key
// is enabled, so attributes.enabled is left out rather than guessed.
//
// The data keys are PascalCase, and Microsoft's only published example has a
// trailing space in a key ("ObjectName "), a leading space in a value, and NBF
// and EXP as strings although the model says numbers (research §3.3); keys are
// matched trimmed and case-insensitively, values trimmed, numbers read from
// either form.
func keyChange(e event, kind string) (guard.Change, error) {
	if e.Time.IsZero() {
		return guard.Change{}, errors.New("missing time")
	}
	vault := strings.TrimRight(strings.TrimSpace(e.Source), "/")
	if !strings.EqualFold(guard.TypeOf(vault), "Microsoft.KeyVault/vaults") || strings.TrimSpace(guard.SubscriptionOf(vault)) == "" {
		return guard.Change{}, fmt.Errorf("topic %q is not the ARM ID of a key vault", e.Source)
	}
	d, err := keyData(e.Data)
	if err != nil {
		return guard.Change{}, err
	}
	if t := d.text("ObjectType"); t != "" && !strings.EqualFold(t, "Key") {
		return guard.Change{}, fmt.Errorf("data.ObjectType is %q, not Key", t)
	}
	ref, err := parseKeyID(d.text("Id"))
	if err != nil {
		return guard.Change{}, err
	}
	name := firstNonEmpty(d.text("ObjectName"), strings.TrimSpace(e.Subject), ref.name)
	if !strings.EqualFold(name, ref.name) {
		return guard.Change{}, fmt.Errorf("data.ObjectName %q and data.Id (key %q) name different keys", name, ref.name)
	}
	version := firstNonEmpty(d.text("Version"), ref.version)
	if ref.version != "" && !strings.EqualFold(version, ref.version) {
		return guard.Change{}, fmt.Errorf("data.Version %q and data.Id (version %q) differ", version, ref.version)
	}
	attrs := map[string]any{}
	for _, f := range []struct{ data, attr string }{{"NBF", "nbf"}, {"EXP", "exp"}} {
		n, ok, err := d.seconds(f.data)
		if err != nil {
			return guard.Change{}, err
		}
		if ok {
			attrs[f.attr] = n
		}
	}
	switch kind {
	case keyNearExpiry:
		attrs["nearExpiry"] = true
	case keyExpired:
		attrs["expired"] = true
	}
	id := vault + "/keys/" + name
	props := map[string]any{"keyUri": ref.versionless, "attributes": attrs}
	if version != "" {
		props["keyUriWithVersion"] = ref.versionless + "/" + version
	}
	body, err := json.Marshal(map[string]any{
		"id": id, "name": name, "type": TypeKeyVaultKey, "properties": props,
		"fromEvent": map[string]any{"type": kind, "id": e.ID, "time": e.Time.UTC().Format(time.RFC3339Nano)},
	})
	if err != nil {
		return guard.Change{}, err
	}
	res, err := guard.NewResource(body, e.Time)
	if err != nil {
		return guard.Change{}, err
	}
	action := guard.ActionAction
	if kind == keyNewVersionCreated {
		action = guard.ActionWrite
	}
	return guard.Change{
		ResourceID:     id,
		SubscriptionID: strings.TrimSpace(guard.SubscriptionOf(id)),
		ResourceType:   TypeKeyVaultKey,
		Operation:      kind,
		Action:         action,
		Outcome:        guard.OutcomeSucceeded,
		EventTime:      e.Time.UTC(),
		Source:         guard.SourceEventGrid,
		EventID:        e.ID,
		Resource:       res,
	}, nil
}

// keyFields is an event's data with its keys trimmed and lower-cased.
type keyFields map[string]json.RawMessage

func keyData(data json.RawMessage) (keyFields, error) {
	var raw map[string]json.RawMessage
	if err := decodeData(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errors.New("data is missing")
	}
	d := keyFields{}
	for k, v := range raw {
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := d[k]; dup {
			return nil, fmt.Errorf("data key %q given twice", k)
		}
		d[k] = v
	}
	return d, nil
}

func (d keyFields) text(key string) string { return text(d[strings.ToLower(key)]) }

// seconds reads NBF or EXP: a number or a numeric string of Unix seconds; absent,
// null and "" are no value.
func (d keyFields) seconds(key string) (int64, bool, error) {
	raw := bytes.TrimSpace(d[strings.ToLower(key)])
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		var q string
		if err := fastjson.Unmarshal(raw, &q); err != nil {
			return 0, false, fmt.Errorf("data.%s: %w", key, err)
		}
		s = q
		if s = strings.TrimSpace(s); s == "" {
			return 0, false, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxUnixSeconds {
		return 0, false, fmt.Errorf("data.%s %s is not a time in Unix seconds", key, raw)
	}
	return int64(math.Round(f)), true, nil
}

// keyID is a Key Vault key identifier: https://{vault host}/keys/{name}/{version}.
type keyID struct{ versionless, name, version string }

func parseKeyID(s string) (keyID, error) {
	u, err := url.Parse(s)
	if s == "" {
		return keyID{}, errors.New("data.Id (the key's URI) is missing")
	}
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return keyID{}, fmt.Errorf("data.Id %q is not a Key Vault key URI", s)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || !strings.EqualFold(segs[0], "keys") || segs[1] == "" || (len(segs) == 3 && segs[2] == "") {
		return keyID{}, fmt.Errorf("data.Id %q is not a Key Vault key URI (https://{vault}/keys/{name}/{version})", s)
	}
	for _, seg := range segs[1:] {
		if !keyVaultName(seg) {
			return keyID{}, fmt.Errorf("data.Id %q: %q is not a Key Vault object name or version", s, seg)
		}
	}
	k := keyID{versionless: "https://" + u.Host + "/keys/" + segs[1], name: segs[1]}
	if len(segs) == 3 {
		k.version = segs[2]
	}
	return k, nil
}

// keyVaultName reports whether s may name a Key Vault object or version:
// letters, digits and dashes (Key Vault's own rule for object names).
func keyVaultName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
