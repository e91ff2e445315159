package functions

import (
	"encoding/json"
	"testing"

	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// FuzzWireStructsMatchStdlib is the differential test of the fast JSON path on
// this package's wire structs: for any input, everything the handler reads of an
// invocation through fastjson.Unmarshal (the envelope, Data, Data.events as a string and
// as an array) reads the same through fastjson.Unmarshal as through
// encoding/json (the same error, of the same type, and the same value), and
// segmentio's decoder, wherever fastjson.Safe lets it answer, accepts nothing
// that encoding/json refuses or reads differently (fastjsontest.SameAsStdlib).
// Deep input is internal/fastjson's TestDeepInputsMatchStdlib.
func FuzzWireStructsMatchStdlib(f *testing.F) {
	for _, b := range fastjsontest.SeedTestdata(f) {
		if inv, err := decodeInvocation(b); err == nil {
			for _, v := range inv.Data {
				f.Add([]byte(v))
				f.Add(unquote(v, 1))
			}
		}
	}
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkWire(t, b)
	})
}

// checkWire runs every check of FuzzWireStructsMatchStdlib on b.
func checkWire(t *testing.T, b []byte) {
	t.Helper()
	fastjsontest.SameAsStdlib[invocationEnvelope](t, b)
	fastjsontest.SameAsStdlib[map[string]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[string](t, b)
	fastjsontest.SameAsStdlib[[]json.RawMessage](t, b)
}

// wireSeeds are inputs where a JSON decoder may go its own way.
var wireSeeds = []string{
	`{"Data":{"events":"[\"{\\\"records\\\":[]}\"]"},"Metadata":{"PartitionContext":"{}"},"data":null,"DATA":1}`,
	`{"data":{"a":1,"a":2,"A":3},"metadata":[]}`,
	"{\"Metadata\":{\"\u017f\":1},\"Data\":{\"event\u017f\":\"[]\"}}",
	"{\"Meta\u212aata\":{},\"\u017f\":1,\"Data\":{\"\u212a\":1}}",
	`{"Data":{"events":"[\"\\ud800\", \"\\u0000\"]"}}`,
	"{\"Data\":{\"events\":\"\xff\xfe\"},\"Meta\xffdata\":{}}",
	`"\ud800"`, `"\udc00\ud800x"`, `"\u0000"`, `"\x"`, `"\u12"`, "\"a\tb\"", "\"\xff\"", `"a\/b"`,
	`["\"x\"", {"records":[]}, null, 1, [], "\\\"\\\""]`,
	`{"Data":1}`, `{"Data":"x"}`, `{"Data":[]}`, `{"Metadata":"x"}`, `{"Data":{"events":null}}`,
	`null`, `true`, `1`, `-0`, `1e999`, `01`, `1.`, `-`, `.5`, `"`, `{`, `[`, `}`, `]`, ``, ` `, `[1,]`, `{"a":1,}`,
	`{} x`, `[]]`, `{}` + "\x00", "\ufeff{}", "\t\n\r { \"Data\" :\n{ } }\r\n", "{}\f", "\v{}",
	nested(`{"Data":{"events":`, 40, `}}`),
}

var nested = fastjsontest.Nested
