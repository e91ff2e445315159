package rules

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// NearExpiryWindow is how long before a key's expiry it counts as near expiry:
// Key Vault sends KeyNearExpiry 30 days before (research §3.1, S9).
const NearExpiryWindow = 30 * 24 * time.Hour

// KeyVaultKey is encryption.cmk for the Key Vault keys behind customer-managed
// keys. It judges the resources that use the key, not the key: a storage
// account (keyvaultproperties), a SQL server's TDE protector (uri), a disk
// encryption set (activeKey.keyUrl) and a Cosmos DB account (keyVaultKeyUri).
// A key that is disabled, expired or not yet valid leaves their data encrypted
// with a key that cannot be used; each user gets a verdict, on the resource a
// person would fix (the server for a TDE protector), with the key's ID as the
// grant, so that each key a resource uses has a finding of its own.
//
// Key state comes from ARM (GET …/vaults/{v}/keys/{k}, api-version 2023-07-01:
// properties.keyUri, keyUriWithVersion, attributes.enabled/nbf/exp in Unix
// seconds) or from a Key Vault event, which the eventgrid decoder turns into the
// same shape with attributes.nearExpiry or attributes.expired set by the event
// that said so. An event does not say whether the key is enabled: absent
// "enabled" means not known to be disabled (a new version is enabled unless
// created otherwise); the previous state fills it in when it is the same version.
//
// A key near expiry is a violation with "warning": true and the days left in
// evidence and message: the policy sets one severity per rule, so the warning
// is carried by the finding itself.
type KeyVaultKey struct{}

var _ guard.DependentRule = KeyVaultKey{}

func (KeyVaultKey) ID() string { return guard.RuleEncryptionCMK }

func (KeyVaultKey) Applies(t string) bool { return isType(t, TypeKeyVaultKey) }

// References returns the key's versionless URI, lower-case, as dependents write it
// (and with the :443 port ARM puts in keyUri, should a dependent copy it).
func (KeyVaultKey) References(res *guard.Resource) []string {
	k, ok := readKey(res)
	if !ok {
		return nil
	}
	u, _ := url.Parse(k.uri) // canonical: parses
	return []string{k.uri, u.Scheme + "://" + u.Host + ":443" + u.Path}
}

// keyState is what the rule knows of a key.
type keyState struct {
	id, name, vault string
	uri             string // canonical versionless URI: https://host/keys/name, lower-case
	version         string // the version the attributes describe, lower-case ("" unknown)
	enabled         flexBool
	nbf, exp        flexInt
	expired, near   bool   // said by a KeyExpired / KeyNearExpiry event
	from            string // "ARM" or the event type
}

func readKey(res *guard.Resource) (keyState, bool) {
	if res == nil || res.Deleted {
		return keyState{}, false
	}
	var b keyBody
	if !decode(res.Body, &b) || b.Properties == nil {
		return keyState{}, false
	}
	p := b.Properties
	ref, ok := parseKeyURI(p.KeyURIWithVersion)
	if !ok {
		if ref, ok = parseKeyURI(p.KeyURI); !ok {
			return keyState{}, false
		}
	}
	k := keyState{id: firstNonEmpty(b.ID, res.ID), name: firstNonEmpty(b.Name, ref.name), vault: ref.vault, uri: ref.uri, version: ref.version,
		enabled: p.Attributes.Enabled, nbf: p.Attributes.NBF, exp: p.Attributes.Exp,
		expired: p.Attributes.Expired.Value, near: p.Attributes.NearExpiry.Value, from: "ARM"}
	if b.FromEvent != nil && b.FromEvent.Type != "" {
		k.from = b.FromEvent.Type
	}
	return k, true
}

// keyRef is a Key Vault key URI as a resource writes it.
type keyRef struct {
	written string
	uri     string // canonical versionless URI
	version string // lower-case, "" when the URI names no version
	name    string // as written
	vault   string // the vault's name (the host's first label)
}

// parseKeyURI reads https://{vault}.vault.azure.net[:443]/keys/{name}[/{version}]
// (any Key Vault host: vault.usgovcloudapi.net in Azure Government).
func parseKeyURI(s string) (keyRef, bool) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Scheme, "https") {
		return keyRef{}, false
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || !strings.EqualFold(segs[0], "keys") || segs[1] == "" {
		return keyRef{}, false
	}
	r := keyRef{written: s, uri: "https://" + host + "/keys/" + strings.ToLower(segs[1]), name: segs[1], vault: strings.SplitN(host, ".", 2)[0]}
	if len(segs) == 3 {
		r.version = strings.ToLower(segs[2])
	}
	return r, true
}

// dependentRef is how one resource uses a key.
type dependentRef struct {
	key          keyRef
	followLatest bool   // the resource moves to a new key version by itself
	target       string // the resource a person would fix
	who          string // the resource, for a sentence
	where        string // the setting that names the key, for the action
}

// keyRefsOf lists the Key Vault keys a resource uses as its customer-managed
// key; none for no resource or a deleted one.
func keyRefsOf(d *guard.Resource) []dependentRef {
	if d == nil || d.Deleted {
		return nil
	}
	var out []dependentRef
	add := func(uri string, latest bool, target, who, where string) {
		if r, ok := parseKeyURI(uri); ok {
			out = append(out, dependentRef{key: r, followLatest: latest || r.version == "", target: target, who: who, where: where})
		}
	}
	switch {
	case isType(d.Type, TypeStorageAccount):
		name, enc, ok := storageKeyFacts(d.Body)
		if !ok || !enc.customerManaged() {
			return nil
		}
		kv := enc.KeyVaultProperties
		who := "Storage account " + firstNonEmpty(name, nameOf(d.ID))
		latest := strings.TrimSpace(kv.KeyVersion) == ""
		where := "properties.encryption.keyvaultproperties.keyversion"
		if kv.CurrentVersionedKeyIdentifier != "" {
			add(kv.CurrentVersionedKeyIdentifier, latest, d.ID, who, where)
		} else if kv.KeyVaultURI != "" && kv.KeyName != "" {
			add(strings.TrimRight(kv.KeyVaultURI, "/")+"/keys/"+kv.KeyName+"/"+kv.KeyVersion, latest, d.ID, who, where)
		}
	case isType(d.Type, TypeSQLEncryptionProtector):
		var p sqlProtector
		server := guard.ParentOf(d.ID)
		if !decode(d.Body, &p) || p.Properties == nil || server == "" || !strings.EqualFold(p.Properties.ServerKeyType, "AzureKeyVault") {
			return nil
		}
		add(p.Properties.URI, p.Properties.AutoRotationEnabled.Value, server, "SQL server "+nameOf(server)+" (TDE protector)", "the TDE protector (encryptionProtector/current)")
	case isType(d.Type, TypeDiskEncryptionSet):
		var des desBody
		if !decode(d.Body, &des) || des.Properties == nil {
			return nil
		}
		add(des.Properties.ActiveKey.KeyURL, des.Properties.RotationToLatestKeyVersionEnabled.Value, d.ID,
			"Disk encryption set "+firstNonEmpty(des.Name, nameOf(d.ID)), "properties.activeKey.keyUrl")
	case isType(d.Type, TypeCosmosAccount):
		var a cosmosAccount
		if !decode(d.Body, &a) {
			return nil
		}
		add(a.Properties.KeyVaultKeyURI, true, d.ID, "Cosmos DB account "+firstNonEmpty(a.Name, nameOf(d.ID)), "properties.keyVaultKeyUri")
	}
	return out
}

func (KeyVaultKey) Evaluate(in guard.Input) []guard.Verdict {
	cur, ok := readKey(in.Resource)
	if !ok || len(in.Dependents) == 0 {
		return nil
	}
	prev, hasPrev := readKey(in.Previous)
	if hasPrev && prev.uri != cur.uri {
		hasPrev = false
	}
	if hasPrev && prev.version == cur.version && cur.from != "ARM" {
		// An event's partial state of the same version: what it does not say,
		// the state before did. (An ARM body is whole: no exp there means none.)
		if !cur.enabled.Set {
			cur.enabled = prev.enabled
		}
		if !cur.exp.Set {
			cur.exp = prev.exp
		}
		if !cur.nbf.Set {
			cur.nbf = prev.nbf
		}
	}
	var out []guard.Verdict
	seen := map[string]bool{}
	for _, d := range in.Dependents {
		for _, ref := range keyRefsOf(d) {
			if ref.key.uri != cur.uri || seen[guard.IDKey(ref.target)] {
				continue
			}
			state := cur
			switch {
			case ref.followLatest || ref.key.version == cur.version || cur.version == "":
			case hasPrev && ref.key.version == prev.version:
				state = prev // the resource pins the version the previous state described
			default:
				continue // it pins a version nothing here describes
			}
			seen[guard.IDKey(ref.target)] = true
			out = append(out, judgeKeyUse(state, ref, in.Now))
		}
	}
	return out
}

func judgeKeyUse(k keyState, ref dependentRef, now time.Time) guard.Verdict {
	evidence := map[string]any{"keyId": k.id, "keyName": k.name, "vault": k.vault, "keyUri": k.uri,
		"keyVersion": k.version, "usedAs": ref.key.written, "followsLatestVersion": ref.followLatest, "keyStateFrom": k.from}
	if k.enabled.Set {
		evidence["enabled"] = k.enabled.Value
	} else {
		evidence["enabled"] = "unknown (not disabled as far as known)"
	}
	if k.exp.Set {
		evidence["expires"] = unix(k.exp.Value)
	}
	if k.nbf.Set {
		evidence["notBefore"] = unix(k.nbf.Value)
	}
	v := guard.Verdict{Rule: guard.RuleEncryptionCMK, ResourceID: ref.target, GrantID: guard.IDKey(k.id), Evidence: evidence}
	uses := fmt.Sprintf("%s uses Key Vault key %s (vault %s)", ref.who, k.name, k.vault)
	rotate := fmt.Sprintf("create a new version of key %s in vault %s", k.name, k.vault)
	if !ref.followLatest {
		rotate += fmt.Sprintf(" and set %s of %s to it", ref.where, nameOf(ref.target))
	}
	var left time.Duration
	if k.exp.Set {
		left = time.Unix(k.exp.Value, 0).Sub(now)
	}
	switch {
	case k.enabled.Set && !k.enabled.Value:
		v.Violation = true
		v.Message = uses + ", which is disabled: the data it protects cannot be decrypted with it."
		v.Action = fmt.Sprintf("enable key %s in vault %s, or %s", k.name, k.vault, rotate)
	case k.expired || (k.exp.Set && left <= 0):
		v.Violation = true
		when := ""
		if k.exp.Set {
			when = " on " + unix(k.exp.Value)
		}
		v.Message = uses + ", which expired" + when + "."
		v.Action = rotate
	case k.nbf.Set && time.Unix(k.nbf.Value, 0).After(now):
		v.Violation = true
		v.Message = fmt.Sprintf("%s, which is not valid before %s.", uses, unix(k.nbf.Value))
		v.Action = fmt.Sprintf("set the activation date of key %s in vault %s to now, or %s", k.name, k.vault, rotate)
	case k.near || (k.exp.Set && left <= NearExpiryWindow):
		v.Violation = true
		evidence["warning"] = true
		if k.exp.Set {
			days := int(math.Ceil(left.Hours() / 24))
			evidence["expiresInDays"] = days
			v.Message = fmt.Sprintf("%s, which expires in %d days (%s).", uses, days, unix(k.exp.Value))
			v.Action = fmt.Sprintf("before %s, %s", unix(k.exp.Value), rotate)
		} else {
			v.Message = uses + ", which Key Vault reports as near expiry."
			v.Action = rotate
		}
	default:
		v.Message = uses + ", which is enabled and unexpired."
		if k.version != "" {
			v.Message = fmt.Sprintf("%s, whose version %s is enabled and unexpired.", uses, k.version)
		}
	}
	return v
}

func unix(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

// keyBody is what readKey reads of a Key Vault key.
type keyBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties *struct {
		KeyURI            string `json:"keyUri"`
		KeyURIWithVersion string `json:"keyUriWithVersion"`
		Attributes        struct {
			Enabled    flexBool `json:"enabled"`
			NBF        flexInt  `json:"nbf"`
			Exp        flexInt  `json:"exp"`
			Expired    flexBool `json:"expired"`
			NearExpiry flexBool `json:"nearExpiry"`
		} `json:"attributes"`
	} `json:"properties"`
	FromEvent *struct {
		Type string `json:"type"`
	} `json:"fromEvent"`
}

// desBody is what keyRefsOf reads of a disk encryption set.
type desBody struct {
	Name       string `json:"name"`
	Properties *struct {
		ActiveKey struct {
			KeyURL string `json:"keyUrl"`
		} `json:"activeKey"`
		RotationToLatestKeyVersionEnabled flexBool `json:"rotationToLatestKeyVersionEnabled"`
	} `json:"properties"`
}
