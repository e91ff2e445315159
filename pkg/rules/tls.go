package rules

import (
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// tlsVersion reads a minimum TLS version as the three services write it
// (storage TLS1_0…TLS1_3, SQL 1.0…1.3, Cosmos DB Tls/Tls11/Tls12) into a
// comparable number: 10 for TLS 1.0 … 13 for TLS 1.3. ok is false for text it
// cannot read (SQL's "None" among them).
func tlsVersion(s string) (int, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "tls")
	t = strings.NewReplacer("_", "", ".", "", "v", "").Replace(t)
	switch t {
	case "": // Cosmos DB's "Tls" is TLS 1.0
		if strings.EqualFold(strings.TrimSpace(s), "tls") {
			return 10, true
		}
	case "1", "10":
		return 10, true
	case "11", "12", "13":
		return int(t[1]-'0') + 10, true
	}
	return 0, false
}

// tlsOK is TLS 1.2.
const tlsOK = 12

// StorageTLS is transit.tls for storage accounts: properties.minimumTlsVersion
// at least TLS1_2 and properties.supportsHttpsTrafficOnly true, one finding with
// both facts. Without minimumTlsVersion an account accepts TLS 1.0 ("The default
// interpretation is TLS 1.0 for this property", armstorage, research §4.1, S12).
// supportsHttpsTrafficOnly defaults to true since api-version 2019-04-01 (same
// source), so only an explicit false (or 0) is HTTP allowed.
type StorageTLS struct{}

func (StorageTLS) ID() string { return guard.RuleTransitTLS }

func (StorageTLS) Applies(t string) bool { return isType(t, TypeStorageAccount) }

func (StorageTLS) Evaluate(in guard.Input) []guard.Verdict {
	var a nameAndProperties
	if !decode(in.Resource.Body, &a) || !hasObject(a.Properties) {
		return nil
	}
	var p storageTLSProps
	_ = fastjson.Unmarshal(a.Properties, &p)
	name := firstNonEmpty(a.Name, nameOf(in.Resource.ID))
	tls := strings.TrimSpace(p.MinimumTLSVersion)
	shown := tls
	if tls == "" {
		shown = "TLS1_0 (absent: the default)"
	}
	https := !p.SupportsHTTPSTrafficOnly.Set || p.SupportsHTTPSTrafficOnly.Value
	httpsShown := any(https)
	if !p.SupportsHTTPSTrafficOnly.Set {
		httpsShown = "true (absent: the default)"
	}
	evidence := map[string]any{"minimumTlsVersion": shown, "supportsHttpsTrafficOnly": httpsShown}
	var problems, fixes []string
	label := tls
	if tls == "" {
		label = "TLS1_0, the default when minimumTlsVersion is absent"
	}
	if ver, ok := tlsVersion(firstNonEmpty(tls, "TLS1_0")); !ok || ver < tlsOK {
		problems = append(problems, "accepts "+describeTLS(label, ver, ok))
		fixes = append(fixes, "set properties.minimumTlsVersion to TLS1_2")
	}
	if !https {
		problems = append(problems, "accepts plain HTTP (supportsHttpsTrafficOnly false)")
		fixes = append(fixes, "set properties.supportsHttpsTrafficOnly to true")
	}
	v := guard.Verdict{Rule: guard.RuleTransitTLS, ResourceID: in.Resource.ID, Evidence: evidence}
	if len(problems) == 0 {
		v.Message = fmt.Sprintf("Storage account %s accepts only HTTPS with TLS %s or later.", name, tlsShort(tls))
		return []guard.Verdict{v}
	}
	v.Violation = true
	v.Message = fmt.Sprintf("Storage account %s %s.", name, joinAnd(problems))
	v.Action = strings.Join(fixes, " and ")
	return []guard.Verdict{v}
}

// SQLTLS is transit.tls for SQL servers: properties.minimalTlsVersion at least
// "1.2". Absent or "None" means the server accepts any TLS version.
type SQLTLS struct{}

func (SQLTLS) ID() string { return guard.RuleTransitTLS }

func (SQLTLS) Applies(t string) bool { return isType(t, TypeSQLServer) }

func (SQLTLS) Evaluate(in guard.Input) []guard.Verdict {
	var s nameAndProperties
	if !decode(in.Resource.Body, &s) || !hasObject(s.Properties) {
		return nil
	}
	var p sqlTLSProps
	_ = fastjson.Unmarshal(s.Properties, &p)
	name := firstNonEmpty(s.Name, nameOf(in.Resource.ID))
	tls := strings.TrimSpace(p.MinimalTLSVersion)
	shown := tls
	if tls == "" {
		shown = "(absent: any TLS version)"
	}
	evidence := map[string]any{"minimalTlsVersion": shown}
	v := guard.Verdict{Rule: guard.RuleTransitTLS, ResourceID: in.Resource.ID, Evidence: evidence}
	ver, ok := tlsVersion(tls)
	if ok && ver >= tlsOK {
		v.Message = fmt.Sprintf("SQL server %s accepts only TLS %s or later.", name, tlsShort(tls))
		return []guard.Verdict{v}
	}
	v.Violation = true
	switch {
	case tls == "" || strings.EqualFold(tls, "None"):
		v.Message = fmt.Sprintf("SQL server %s sets no minimal TLS version (%s), so it accepts TLS 1.0 and 1.1.", name, firstNonEmpty(tls, "absent"))
	default:
		v.Message = fmt.Sprintf("SQL server %s accepts %s.", name, describeTLS(tls, ver, ok))
	}
	v.Action = "set properties.minimalTlsVersion to 1.2"
	return []guard.Verdict{v}
}

// CosmosTLS is transit.tls for Cosmos DB accounts: properties.minimalTlsVersion
// Tls12 or later ("Tls" is TLS 1.0, "Tls11" TLS 1.1). An account without the
// property is TLS 1.2: Microsoft documents "The default value for new accounts
// is Tls12" and that "Starting August 31, 2025, all Cosmos DB database accounts
// must use Transport Layer Security (TLS) 1.2 or higher, as support for TLS 1.0
// and 1.1 is retired" (https://learn.microsoft.com/azure/cosmos-db/self-serve-minimum-tls-enforcement).
type CosmosTLS struct{}

func (CosmosTLS) ID() string { return guard.RuleTransitTLS }

func (CosmosTLS) Applies(t string) bool { return isType(t, TypeCosmosAccount) }

func (CosmosTLS) Evaluate(in guard.Input) []guard.Verdict {
	var a nameAndProperties
	if !decode(in.Resource.Body, &a) || !hasObject(a.Properties) {
		return nil
	}
	var p cosmosTLSProps
	_ = fastjson.Unmarshal(a.Properties, &p)
	name := firstNonEmpty(a.Name, nameOf(in.Resource.ID))
	v := guard.Verdict{Rule: guard.RuleTransitTLS, ResourceID: in.Resource.ID}
	if p.MinimalTLSVersion == nil || strings.TrimSpace(*p.MinimalTLSVersion) == "" {
		v.Evidence = map[string]any{"minimalTlsVersion": "(absent: Tls12, the Cosmos DB default; TLS 1.0 and 1.1 retired on 2025-08-31)"}
		v.Message = fmt.Sprintf("Cosmos DB account %s accepts only TLS 1.2 or later (the service default).", name)
		return []guard.Verdict{v}
	}
	tls := strings.TrimSpace(*p.MinimalTLSVersion)
	v.Evidence = map[string]any{"minimalTlsVersion": tls}
	ver, ok := tlsVersion(tls)
	if ok && ver >= tlsOK {
		v.Message = fmt.Sprintf("Cosmos DB account %s accepts only TLS %s or later.", name, tlsShort(tls))
		return []guard.Verdict{v}
	}
	v.Violation = true
	v.Message = fmt.Sprintf("Cosmos DB account %s accepts %s.", name, describeTLS(tls, ver, ok))
	v.Action = "set properties.minimalTlsVersion to Tls12"
	return []guard.Verdict{v}
}

// describeTLS says what a minimum version below 1.2 lets in.
func describeTLS(written string, ver int, ok bool) string {
	switch {
	case !ok:
		return fmt.Sprintf("connections with minimum TLS version %q, which is not a version exportguard recognises as 1.2 or later", written)
	case ver == 10:
		return fmt.Sprintf("TLS 1.0 and 1.1 (minimum %s)", written)
	}
	return fmt.Sprintf("TLS 1.1 (minimum %s)", written)
}

// tlsShort prints a recognised version as "1.2".
func tlsShort(written string) string {
	if v, ok := tlsVersion(written); ok {
		return fmt.Sprintf("1.%d", v-10)
	}
	return written
}

// storageTLSProps is what StorageTLS reads of a storage account's properties.
type storageTLSProps struct {
	MinimumTLSVersion        string   `json:"minimumTlsVersion"`
	SupportsHTTPSTrafficOnly flexBool `json:"supportsHttpsTrafficOnly"`
}

// sqlTLSProps is what SQLTLS reads of a SQL server's properties.
type sqlTLSProps struct {
	MinimalTLSVersion string `json:"minimalTlsVersion"`
}

// cosmosTLSProps is what CosmosTLS reads of a Cosmos DB account's properties.
type cosmosTLSProps struct {
	MinimalTLSVersion *string `json:"minimalTlsVersion"`
}
