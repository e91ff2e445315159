package rules

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// ARM types the data rules judge (research/azure-events.md §4).
const (
	TypeCosmosAccount          = guard.TypeCosmosAccount
	TypeSQLServer              = guard.TypeSQLServer
	TypeSQLEncryptionProtector = "Microsoft.Sql/servers/encryptionProtector"
	TypeSQLFailoverGroup       = guard.TypeSQLFailoverGroup
	TypeSQLDatabase            = "Microsoft.Sql/servers/databases"
	TypeSQLReplicationLink     = guard.TypeSQLReplicationLink
	TypeDisk                   = "Microsoft.Compute/disks"
	TypeDiskEncryptionSet      = "Microsoft.Compute/diskEncryptionSets"
	TypeKeyVaultKey            = "Microsoft.KeyVault/vaults/keys"
)

// isType compares ARM resource types, which are case-insensitive.
func isType(t, want string) bool { return strings.EqualFold(strings.TrimSpace(t), want) }

// decode reads a resource body into v, which must point to a zero value. It is
// false when the body is not a JSON object or does not fit v; a rule then has
// nothing to say.
func decode[T any](body []byte, v *T) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	return fastjson.Unmarshal(b, v) == nil
}

// hasObject reports whether raw is a JSON object (ARM omits properties, or a
// notification carries none, when there is nothing to judge).
func hasObject(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && b[0] == '{'
}

// flexBool reads an ARM boolean leniently: true/false, the 1/0 that Resource
// Notifications write (research §2.4), or the strings "true"/"false". Set is
// false when the value is absent, null or unreadable.
type flexBool struct {
	Set   bool
	Value bool
}

func (b *flexBool) UnmarshalJSON(raw []byte) error {
	*b = flexBool{}
	s := strings.ToLower(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	switch s {
	case "true", "1":
		*b = flexBool{Set: true, Value: true}
	case "false", "0":
		*b = flexBool{Set: true, Value: false}
	}
	return nil // anything else reads as absent rather than failing the whole body
}

// flexInt reads a number of seconds leniently: a JSON number (possibly a
// float, as the Key Vault event model declares float32) or a numeric string.
type flexInt struct {
	Set   bool
	Value int64
}

// maxUnixSeconds is 9999-12-31T23:59:59Z: later times cannot be printed as RFC 3339.
const maxUnixSeconds = 253402300799

func (n *flexInt) UnmarshalJSON(raw []byte) error {
	*n = flexInt{}
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxUnixSeconds {
		return nil
	}
	*n = flexInt{Set: true, Value: int64(math.Round(f))}
	return nil
}

// nameOf returns the last segment of a resource ID (the resource's name).
func nameOf(id string) string {
	id = strings.TrimRight(strings.TrimSpace(id), "/")
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// regionFacts describes a region for evidence: its programmatic name, display
// name and geography when the region table knows it.
func regionFacts(name string) map[string]any {
	m := map[string]any{"location": name, "region": region.Normalize(name)}
	if r, ok := region.Lookup(name); ok {
		m["regionName"], m["geography"], m["regionCloud"] = r.DisplayName, r.Geography, r.Cloud
	} else {
		m["geography"] = "unknown (not a known Azure region)"
	}
	return m
}

// regionLabel names a region for a sentence: its display name, or the text as
// written when the table does not know it.
func regionLabel(name string) string {
	if r, ok := region.Lookup(name); ok {
		return r.DisplayName
	}
	if strings.TrimSpace(name) == "" {
		return "an undetermined region"
	}
	return strings.TrimSpace(name)
}

// geographyOf returns the geography of a region, or "unknown".
func geographyOf(name string) string {
	if r, ok := region.Lookup(name); ok {
		return r.Geography
	}
	return "unknown"
}

// joinAnd joins phrases as a sentence does: "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// kindOf names a resource for a sentence ("Storage account itardrawings").
func kindOf(typ, id string) string {
	name := nameOf(id)
	if k, ok := kinds[strings.ToLower(typ)]; ok {
		return k + " " + name
	}
	if typ == "" {
		return "Resource " + name
	}
	return "Resource " + name + " (" + typ + ")"
}

// kinds names the types kindOf knows, by lowercased type.
var kinds = map[string]string{
	strings.ToLower(TypeStorageAccount):                  "Storage account",
	strings.ToLower(TypeCosmosAccount):                   "Cosmos DB account",
	strings.ToLower(TypeSQLServer):                       "SQL server",
	strings.ToLower(TypeSQLDatabase):                     "SQL database",
	strings.ToLower(TypeDisk):                            "Managed disk",
	strings.ToLower(TypeDiskEncryptionSet):               "Disk encryption set",
	strings.ToLower("Microsoft.KeyVault/vaults"):         "Key vault",
	strings.ToLower(TypeKeyVaultKey):                     "Key Vault key",
	strings.ToLower("Microsoft.Compute/virtualMachines"): "Virtual machine",
}
