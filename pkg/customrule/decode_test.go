package customrule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// sameAsStdlib fails unless decodeJSON reads b as encoding/json reads it into
// an any: the same value, or an error where encoding/json gives one.
func sameAsStdlib(t *testing.T, b []byte) {
	t.Helper()
	var want any
	wantErr := json.Unmarshal(b, &want)
	got, gotErr := decodeJSON(b)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("decodeJSON error %v, encoding/json's %v, on %q", gotErr, wantErr, fastjsontest.Clip(b))
	}
	if wantErr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("decodeJSON reads %q as %#v, encoding/json as %#v", fastjsontest.Clip(b), got, want)
	}
	// With a key table, twice: once filling it, once reading from it.
	for range 2 {
		got, gotErr = decodeWithKeys(b, keyTable)
		if (gotErr == nil) != (wantErr == nil) || wantErr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("decodeWithKeys reads %q as %#v (%v), encoding/json as %#v (%v)", fastjsontest.Clip(b), got, gotErr, want, wantErr)
		}
	}
}

// keyTable is shared by every case, as a rule set's is by every body.
var keyTable = map[string]string{}

var decodeCases = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `"x"`, ` {"a" : [1, "b", null, true, {"c": {}}] } `,
	`{"a":1,"a":2}`, `{"a\\":1,"a\\\"":2}`, `{"a\"b":1,"a":2,"a\"b":3}`, `{"\u0061":1,"a":2}`, `{"a` + "\xff" + `":1}`, `{"k":"\u00e9\n\t\"\\\/"}`, `{"k":"\ud83d\ude00"}`, `{"k":"\ud800"}`, `"caf` + "\xe9" + `"`, `"é ✓"`,
	`{"k":"a` + "\x01" + `"}`, `1e400`, `-1e400`, `1e-400`, `01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `0x10`, `{"a":}`, `{"a" 1}`,
	`{"a":1,}`, `[1,]`, `[1 2]`, `{a:1}`, `{"a":1}}`, `{"a":1} x`, `tru`, `nul`, `"\x"`, `"\u12"`, `"abc`, `"\`, ``, ` `,
	"\xef\xbb\xbf{}", `{"` + "\xff" + `":1}`, `[[[[]]]]`, `{"a":[{"b":[{"c":[]}]}]}`,
}

func TestDecodeMatchesStdlib(t *testing.T) {
	for _, c := range decodeCases {
		sameAsStdlib(t, []byte(c))
	}
	for _, c := range fastjsontest.DeepInputs() {
		sameAsStdlib(t, []byte(c))
	}
	// At and beyond encoding/json's nesting limit.
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		sameAsStdlib(t, []byte(fastjsontest.Nested("[", n, "]")))
		sameAsStdlib(t, []byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)))
	}
	// The recorded ARM bodies, whole and cut short.
	files, _ := filepath.Glob("../../testdata/sessions/*.ndjson")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			sameAsStdlib(t, []byte(l))
			sameAsStdlib(t, []byte(l[:len(l)/2]))
		}
	}
}

// FuzzDecodeMatchesStdlib holds decodeJSON to encoding/json's reading.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	fastjsontest.SeedTestdata(f)
	f.Fuzz(func(t *testing.T, b []byte) { sameAsStdlib(t, b) })
}
