package rules

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/exportguard/exportguard/pkg/guard"
)

// KeyVaultKeyUse is encryption.cmk for the Key Vault keys behind
// customer-managed keys, seen from the resources that use them (a storage
// account, a SQL server's TDE protector, a disk encryption set, a Cosmos DB
// account). KeyVaultKey judges a key's users when the key changes; this rule
// judges what a user's own change settles, which nothing would judge until the
// key changed again (guard.Referrer: the pipeline finds the keys' last known
// states):
//   - a resource pointed at a key it did not use before, or at another version
//     it pins, is judged against the key's state, so that moving an account
//     onto a disabled or expired key is a finding at once;
//   - a resource that no longer uses a key has that key's finding resolved.
//
// A resource seen for the first time is not looked up: finding the keys reads
// every known resource, too much to do for each new account; its key's next
// change judges it.
type KeyVaultKeyUse struct{}

var _ guard.Referrer = KeyVaultKeyUse{}

func (KeyVaultKeyUse) ID() string { return guard.RuleEncryptionCMK }

func (KeyVaultKeyUse) Applies(t string) bool {
	return isType(t, TypeStorageAccount) || isType(t, TypeSQLEncryptionProtector) ||
		isType(t, TypeDiskEncryptionSet) || isType(t, TypeCosmosAccount)
}

// Refers names the keys whose use the change moved: those the judged state
// uses that its last known state did not (or in another version it pins),
// and those the last known state used that it no longer does; by their
// versionless URIs, as the keys' own bodies hold them.
func (KeyVaultKeyUse) Refers(in guard.Input) []string {
	if in.Previous == nil || in.Previous.Deleted || in.Resource == nil || in.Resource.Deleted ||
		bytes.Equal(in.Previous.Body, in.Resource.Body) || !mentionsKeys(in.Previous.Body) && !mentionsKeys(in.Resource.Body) {
		return nil // cheaply: most states judged name no key, or the same ones as before
	}
	before, now := keyRefsOf(in.Previous), keyRefsOf(in.Resource)
	var out []string
	add := func(uri string) {
		if !slices.Contains(out, uri) {
			out = append(out, uri)
		}
	}
	for _, ref := range now {
		if !slices.ContainsFunc(before, func(b dependentRef) bool { return pinned(b) == pinned(ref) }) {
			add(ref.key.uri)
		}
	}
	for _, ref := range before {
		if !usesKey(now, ref.key.uri) {
			add(ref.key.uri)
		}
	}
	return out
}

// pinned is a key use as Refers compares them: the key, and the version when
// the resource pins one.
func pinned(ref dependentRef) string {
	if ref.followLatest {
		return ref.key.uri
	}
	return ref.key.uri + "/" + ref.key.version
}

// usesKey reports whether refs use the key with this versionless URI.
func usesKey(refs []dependentRef, uri string) bool {
	return slices.ContainsFunc(refs, func(r dependentRef) bool { return r.key.uri == uri })
}

// Evaluate judges, for each key among in.Dependents (what Refers found), the
// judged resource's use of it as KeyVaultKey would on the key's next change,
// or, when it no longer uses the key, that it no longer does.
func (KeyVaultKeyUse) Evaluate(in guard.Input) []guard.Verdict {
	var out []guard.Verdict
	now := keyRefsOf(in.Resource)
	for _, d := range in.Dependents {
		k, ok := readKey(d)
		if !ok {
			continue // another user of the key, or no key at all
		}
		if usesKey(now, k.uri) {
			for _, ref := range now {
				if ref.key.uri == k.uri && (ref.followLatest || ref.key.version == k.version || k.version == "") {
					out = append(out, judgeKeyUse(k, ref, in.Now))
					break
				}
			}
			continue // or a version whose state is not known
		}
		for _, ref := range keyRefsOf(in.Previous) {
			if ref.key.uri == k.uri {
				out = append(out, guard.Verdict{Rule: guard.RuleEncryptionCMK, ResourceID: ref.target, GrantID: guard.IDKey(k.id),
					Message:  fmt.Sprintf("%s no longer uses Key Vault key %s (vault %s).", ref.who, k.name, k.vault),
					Evidence: map[string]any{"keyId": k.id, "keyName": k.name, "vault": k.vault, "keyUri": k.uri, "noLongerUsed": true}})
				break
			}
		}
	}
	return out
}

// mentionsKeys reports, cheaply, whether a body may name a Key Vault key as
// keyRefsOf reads them: a key URI holds "keys/" (or "keys\/", a slash escaped
// in JSON), and a storage account may name its key by keyvaulturi and keyname
// instead; in any casing, as encoding/json matches field names. It may say
// yes of bodies that name none.
func mentionsKeys(body []byte) bool {
	lower := bytes.ToLower(body)
	return bytes.Contains(lower, []byte("keys/")) || bytes.Contains(lower, []byte(`keys\/`)) ||
		bytes.Contains(lower, []byte("keyvaulturi"))
}
