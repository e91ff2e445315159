package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// The types the rules decode resource bodies into, each call of decode and
// fastjson.Unmarshal in this package. The named ones are the rules' own; the others copy
// a type a rule declares inside a function, field for field and tag for tag:
// keep them in step. The body the TLS rules (tls.go) decode, {name, properties
// as raw JSON}, is storageEncryption's shape and is not repeated.

// rulesStorageCMKProps is what storageKeyFacts (cmk.go) reads of the properties.
type rulesStorageCMKProps struct {
	Encryption storageKeyVaultProps `json:"encryption"`
}

// rulesStorageTLSProps is what StorageTLS.Evaluate (tls.go) reads of the properties.
type rulesStorageTLSProps struct {
	MinimumTLSVersion        string   `json:"minimumTlsVersion"`
	SupportsHTTPSTrafficOnly flexBool `json:"supportsHttpsTrafficOnly"`
}

// rulesSQLTLSProps is what SQLTLS.Evaluate (tls.go) reads of the properties.
type rulesSQLTLSProps struct {
	MinimalTLSVersion string `json:"minimalTlsVersion"`
}

// rulesCosmosTLSProps is what CosmosTLS.Evaluate (tls.go) reads of the properties.
type rulesCosmosTLSProps struct {
	MinimalTLSVersion *string `json:"minimalTlsVersion"`
}

// rulesLocationBody is what Location.Evaluate (location.go) reads of a body.
type rulesLocationBody struct {
	Location string `json:"location"`
}

// rulesKeyBody is what readKey (keyvault_key.go) reads of a key.
type rulesKeyBody struct {
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

// rulesDESBody is what keyRefsOf (keyvault_key.go) reads of a disk encryption set.
type rulesDESBody struct {
	Name       string `json:"name"`
	Properties *struct {
		ActiveKey struct {
			KeyURL string `json:"keyUrl"`
		} `json:"activeKey"`
		RotationToLatestKeyVersionEnabled flexBool `json:"rotationToLatestKeyVersionEnabled"`
	} `json:"properties"`
}

// rulesFailoverGroupBody is what SQLFailoverGroupReplication.Evaluate
// (replication.go) reads of a failover group.
type rulesFailoverGroupBody struct {
	Name       string `json:"name"`
	Properties struct {
		ReplicationRole string `json:"replicationRole"`
		PartnerServers  []struct {
			ID              string `json:"id"`
			Location        string `json:"location"`
			ReplicationRole string `json:"replicationRole"`
		} `json:"partnerServers"`
		Databases []string `json:"databases"`
	} `json:"properties"`
}

// rulesReplicationLinkBody is what SQLReplicationLinkReplication.Evaluate
// (replication.go) reads of a replication link.
type rulesReplicationLinkBody struct {
	Name       string `json:"name"`
	Properties *struct {
		PartnerServer     string `json:"partnerServer"`
		PartnerDatabase   string `json:"partnerDatabase"`
		PartnerDatabaseID string `json:"partnerDatabaseId"`
		PartnerLocation   string `json:"partnerLocation"`
		Role              string `json:"role"`
		PartnerRole       string `json:"partnerRole"`
		LinkType          string `json:"linkType"`
		ReplicationState  string `json:"replicationState"`
	} `json:"properties"`
}

// checkBodies runs every check of FuzzBodiesMatchStdlib on b: for each type,
// fastjson.Unmarshal reads b as encoding/json does (fastjsontest.SameAsStdlib), and
// decode gives the answer it gave with encoding/json alone.
func checkBodies(t *testing.T, b []byte) {
	t.Helper()
	// decode: cmk.go, keyvault_key.go, replication.go, tls.go (storageEncryption's shape)
	sameBody[storageEncryption](t, b)
	sameBody[sqlProtector](t, b)
	sameBody[diskEncryption](t, b)
	sameBody[cosmosAccount](t, b)
	sameBody[rulesKeyBody](t, b)
	sameBody[rulesDESBody](t, b)
	sameBody[rulesFailoverGroupBody](t, b)
	sameBody[rulesReplicationLinkBody](t, b)
	// fastjson.Unmarshal of a whole body: storage_replication.go, location.go
	sameBody[storageAccount](t, b)
	sameBody[rulesLocationBody](t, b)
	// fastjson.Unmarshal of properties: cmk.go, tls.go
	sameBody[rulesStorageCMKProps](t, b)
	sameBody[rulesStorageTLSProps](t, b)
	sameBody[rulesSQLTLSProps](t, b)
	sameBody[rulesCosmosTLSProps](t, b)
}

// sameBody holds fastjson.Unmarshal and decode, reading b into a T, to encoding/json.
func sameBody[T any](t *testing.T, b []byte) {
	t.Helper()
	fastjsontest.SameAsStdlib[T](t, b)
	var want, got T
	wantOK := decodeStdlib(b, &want)
	gotOK := decode(b, &got)
	if gotOK != wantOK || !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got, cmp.Exporter(func(reflect.Type) bool { return true }))
		t.Fatalf("decode into %T of %q: %v, with encoding/json %v (-encoding/json +now):\n%s",
			got, fastjsontest.Clip(b), gotOK, wantOK, diff)
	}
}

// decodeStdlib is decode with encoding/json alone.
func decodeStdlib[T any](body []byte, v *T) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

// FuzzBodiesMatchStdlib is the differential test of the fast JSON path on the
// rules: for any input, every body type a rule decodes reads the same through
// decode and fastjson.Unmarshal as through encoding/json (the same error, of the same
// type, and the same value, partial values included), and segmentio's decoder,
// wherever fastjson.Safe lets it answer, accepts nothing that encoding/json
// refuses or reads differently. It starts from the ARM bodies of the recorded
// sessions (testdata/sessions/*.ndjson at the repository root) and of this
// package's testdata, and their properties.
func FuzzBodiesMatchStdlib(f *testing.F) {
	seen := map[string]bool{}
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			f.Add(b)
		}
	}
	addBody := func(b []byte) {
		add(b)
		var v struct {
			Properties json.RawMessage `json:"properties"`
		}
		if json.Unmarshal(b, &v) == nil && v.Properties != nil {
			add([]byte(v.Properties))
		}
	}
	n := 0
	for _, name := range glob(f, filepath.Join("..", "..", "testdata", "sessions", "*.ndjson")) {
		for _, line := range lines(f, name) {
			var l struct {
				Source string          `json:"source"`
				Body   json.RawMessage `json:"body"`
			}
			if json.Unmarshal(line, &l) == nil && l.Source == "arm" && len(l.Body) > 0 && string(l.Body) != "null" {
				addBody(l.Body)
				n++
			}
		}
	}
	if n == 0 {
		f.Fatal("no ARM bodies in ../../testdata/sessions/*.ndjson")
	}
	for _, name := range glob(f, filepath.Join("testdata", "*.json")) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		addBody(b)
	}
	for _, s := range bodySeeds {
		add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBodies(t, b)
	})
}

// TestDeepBodiesMatchStdlib is FuzzBodiesMatchStdlib on bodies nested around
// encoding/json's limit of 10000 levels, which the fuzzer does not make.
func TestDeepBodiesMatchStdlib(t *testing.T) {
	for _, s := range []string{
		`{"properties":{"locations":[` + fastjsontest.Nested("", 9997, "") + `]}}`,
		`{"properties":{"locations":[` + fastjsontest.Nested("", 9998, "") + `]}}`,
		`{"properties":` + fastjsontest.Nested("", 9998, "") + `,"name":"n"}`,
		`{"properties":` + fastjsontest.Nested("", 9999, "") + `,"name":"n"}`,
		`{"properties":` + fastjsontest.Nested("", 10000, "") + `,"name":"n"}`,
		fastjsontest.Nested(`{"encryption":`, 9999, `}`),
		strings.Repeat(`{"properties":`, 10001),
	} {
		checkBodies(t, []byte(s))
	}
}

func glob(f *testing.F, pattern string) []string {
	names, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	return names
}

// lines returns the lines of a file.
func lines(f *testing.F, name string) [][]byte {
	file, err := os.Open(name)
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	var out [][]byte
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		f.Fatal(fmt.Errorf("%s: %w", name, err))
	}
	return out
}

// bodySeeds are bodies where a JSON decoder may go its own way.
var bodySeeds = []string{
	// lenient values (flexBool, flexInt) of every kind
	`{"properties":{"attributes":{"enabled":1,"nbf":"1700000000","exp":1.7e9,"expired":"TRUE","nearExpiry":" false "},"keyUri":"https://v.vault.azure.net/keys/k"}}`,
	`{"properties":{"attributes":{"enabled":null,"nbf":-1,"exp":1e400,"expired":{},"nearExpiry":[]}}}`,
	`{"properties":{"attributes":{"enabled":"1","nbf":"NaN","exp":253402300800,"expired":0}}}`,
	`{"properties":{"locations":[{"locationName":"East US","failoverPriority":"0"},{"locationName":"West US","failoverPriority":1.4}]}}`,
	`{"properties":{"serverKeyType":"AzureKeyVault","autoRotationEnabled":"true","uri":"https://v.vault.azure.net/keys/k/1"}}`,
	`{"properties":{"encryptionSettingsCollection":{"enabled":true},"encryption":{"type":"EncryptionAtRestWithCustomerKey"}}}`,
	`{"properties":{"supportsHttpsTrafficOnly":"1","minimumTlsVersion":"TLS1_2","minimalTlsVersion":null}}`,
	// type errors mid-body, and what follows them
	`{"name":1,"properties":{"minimalTlsVersion":"1.2"},"sku":{"name":"Standard_GRS"}}`,
	`{"sku":"x","properties":{"primaryLocation":"eastus"},"name":"after"}`,
	`{"properties":{"partnerServers":{},"databases":"d"},"name":"after"}`,
	`{"properties":{"partnerServers":[{"id":1,"location":"westus"}],"replicationRole":"Primary"}}`,
	`{"properties":{"keyvaultproperties":{"keyname":1,"keyvaulturi":"https://v"},"keySource":"Microsoft.Keyvault"}}`,
	`{"properties":{"encryption":{"keySource":["x"],"keyvaultproperties":"y"}},"name":"after"}`,
	`{"properties":[],"name":"n"}`, `{"properties":"x"}`, `{"properties":null}`, `{"properties":1}`,
	// duplicate keys, keys that differ only in case, keys that fold to ASCII in encoding/json
	`{"name":"a","NAME":"b","properties":{"minimalTlsVersion":"1.0","MinimalTlsVersion":"1.2"},"Properties":{}}`,
	"{\"\u017fku\":{\"name\":\"Standard_GRS\"},\"propertie\u017f\":{\"\u017fecondaryLocation\":\"westus\"}}",
	`{"\u017fku":{"name":"Standard_GRS"},"properties":{"\u017ferverKeyType":"AzureKeyVault"},"\u212aind":"k"}`,
	"{\"location\":\"eastus\",\"locat\u0131on\":\"westus\",\"name\xff\":\"n\"}",
	// invalid UTF-8 and escapes in values
	"{\"name\":\"\xff\",\"location\":\"east\xc3us\",\"properties\":{\"uri\":\"\\ud800\"}}",
	`{"name":"a\u0000b","location":"\u0065astus"}`,
	// not an object, or not only one
	` {"name":"n"} `, "\ufeff{}", `{"name":"n"} x`, `{"name":"n"}}`, `[{"name":"n"}]`, `"{}"`, `null`, ``, `{`, `{"name":`,
}
