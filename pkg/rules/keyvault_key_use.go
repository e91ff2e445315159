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
// covers what the users' own changes settle, which nothing would judge until
// the key changed again:
//   - a resource pointed at a key it did not use before (or at another version
//     it pins) is judged against the key's last known state (guard.Referrer),
//     so that moving an account onto a disabled or expired key is a finding at
//     once; and
//   - a resource that no longer uses a key has that key's finding resolved
//     (guard.Reviewer).
//
// A resource seen for the first time is not looked up: finding the key reads
// every known resource, too much to do for each new account; its key's next
// change, or KeyVaultKey's event, judges it.
type KeyVaultKeyUse struct{}

var (
	_ guard.Referrer = KeyVaultKeyUse{}
	_ guard.Reviewer = KeyVaultKeyUse{}
)

func (KeyVaultKeyUse) ID() string { return guard.RuleEncryptionCMK }

func (KeyVaultKeyUse) Applies(t string) bool {
	return isType(t, TypeStorageAccount) || isType(t, TypeSQLEncryptionProtector) ||
		isType(t, TypeDiskEncryptionSet) || isType(t, TypeCosmosAccount)
}

// Refers names the keys the judged state uses that its last known state did
// not (or in another version it pins): their versionless URIs, as the keys'
// own bodies hold them.
func (KeyVaultKeyUse) Refers(in guard.Input) []string {
	if in.Previous == nil || in.Previous.Deleted || in.Resource == nil || in.Resource.Deleted ||
		bytes.Equal(in.Previous.Body, in.Resource.Body) || !mentionsKeys(in.Resource.Body) {
		return nil
	}
	before := map[string]bool{}
	for _, ref := range keyRefsOf(in.Previous) {
		before[pinned(ref)] = true
	}
	var out []string
	for _, ref := range keyRefsOf(in.Resource) {
		if !before[pinned(ref)] && !slices.Contains(out, ref.key.uri) {
			out = append(out, ref.key.uri)
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

// Evaluate judges the judged resource's use of each key among in.Dependents
// (what Refers found), as KeyVaultKey would on the key's next change.
func (KeyVaultKeyUse) Evaluate(in guard.Input) []guard.Verdict {
	var out []guard.Verdict
	for _, d := range in.Dependents {
		k, ok := readKey(d)
		if !ok {
			continue // another user of the key, or no key at all
		}
		for _, ref := range keyRefsOf(in.Resource) {
			if ref.key.uri != k.uri || !(ref.followLatest || ref.key.version == k.version || k.version == "") {
				continue // another key, or a version whose state is not known
			}
			out = append(out, judgeKeyUse(k, ref, in.Now))
			break
		}
	}
	return out
}

// Reviews names, for a resource that no longer uses a key its last known
// state used (a storage account moved to another key or to Microsoft-managed
// keys), the resources whose findings about that key's use may be left open:
// nothing judges the old key again on its behalf.
func (KeyVaultKeyUse) Reviews(in guard.Input) []string {
	if in.Previous == nil || in.Previous.Deleted || in.Resource == nil || in.Resource.Deleted ||
		bytes.Equal(in.Previous.Body, in.Resource.Body) || !mentionsKeys(in.Previous.Body) {
		return nil // cheaply: most states judged name no key, or the same ones as before
	}
	now := usedKeys(in.Resource)
	var out []string
	for _, ref := range keyRefsOf(in.Previous) {
		if !now[guard.IDKey(ref.target)+" "+ref.key.uri] && !slices.ContainsFunc(out, func(id string) bool { return guard.SameID(id, ref.target) }) {
			out = append(out, ref.target)
		}
	}
	return out
}

// Review resolves the findings of keys the judged state no longer uses: those
// judgeKeyUse gave (their grant is the key's ID, their evidence names it)
// about a key that is not among the resource's keys now.
func (KeyVaultKeyUse) Review(in guard.Input, findings []guard.Finding) []guard.Verdict {
	now := usedKeys(in.Resource)
	var out []guard.Verdict
	for _, f := range findings {
		keyID, _ := f.Evidence["keyId"].(string)
		uri, _ := f.Evidence["keyUri"].(string)
		if keyID == "" || uri == "" || f.ID != guard.FindingID(guard.RuleEncryptionCMK, f.ResourceID, guard.IDKey(keyID)) ||
			now[guard.IDKey(f.ResourceID)+" "+uri] {
			continue
		}
		name, _ := f.Evidence["keyName"].(string)
		vault, _ := f.Evidence["vault"].(string)
		out = append(out, guard.Verdict{Rule: guard.RuleEncryptionCMK, ResourceID: f.ResourceID, GrantID: guard.IDKey(keyID),
			Message:  fmt.Sprintf("%s no longer uses Key Vault key %s (vault %s).", resourceWho(in.Previous, f.ResourceID), name, vault),
			Evidence: map[string]any{"keyId": keyID, "keyName": name, "vault": vault, "keyUri": uri, "noLongerUsed": true}})
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

// usedKeys is the keys a resource uses, as "IDKey(target) uri".
func usedKeys(r *guard.Resource) map[string]bool {
	out := map[string]bool{}
	for _, ref := range keyRefsOf(r) {
		out[guard.IDKey(ref.target)+" "+ref.key.uri] = true
	}
	return out
}

// resourceWho names the resource a finding is on for a sentence, as keyRefsOf
// does for r (the state that used the key), or by its name.
func resourceWho(r *guard.Resource, target string) string {
	if r == nil {
		return "Resource " + nameOf(target)
	}
	for _, ref := range keyRefsOf(r) {
		if guard.SameID(ref.target, target) {
			return ref.who
		}
	}
	return "Resource " + nameOf(target)
}
