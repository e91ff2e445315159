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

// checkBodies runs every check of FuzzBodiesMatchStdlib on b: for each type the
// rules decode a resource body into (all of them the package's own, so the test
// follows a rule that changes its type), fastjson.Unmarshal reads b as
// encoding/json does (fastjsontest.SameAsStdlib), and decode gives the answer it
// gave with encoding/json alone.
func checkBodies(t *testing.T, b []byte) {
	t.Helper()
	// decode of a whole body, by the rules that call it
	sameBody[nameAndProperties](t, b)
	sameBody[sqlProtector](t, b)
	sameBody[diskEncryption](t, b)
	sameBody[cosmosAccount](t, b)
	sameBody[keyBody](t, b)
	sameBody[desBody](t, b)
	sameBody[failoverGroupBody](t, b)
	sameBody[replicationLinkBody](t, b)
	// fastjson.Unmarshal of a whole body: storage_replication.go, location.go
	sameBody[storageAccount](t, b)
	sameBody[locationBody](t, b)
	// fastjson.Unmarshal of properties: cmk.go, tls.go
	sameBody[storageCMKProps](t, b)
	sameBody[storageTLSProps](t, b)
	sameBody[sqlTLSProps](t, b)
	sameBody[cosmosTLSProps](t, b)
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
