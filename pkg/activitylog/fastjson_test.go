package activitylog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// FuzzWireStructsMatchStdlib is the differential test of the fast JSON path on
// this package's wire structs: for any input, every wire struct Decode reads
// reads the same through fastjson.Unmarshal as through encoding/json (the same
// error, of the same type, and the same value, partial values after a type error
// included), and segmentio's decoder, wherever fastjson.Safe lets it answer,
// accepts nothing that encoding/json refuses or reads differently
// (fastjsontest.SameAsStdlib). Deep input is internal/fastjson's
// TestDeepInputsMatchStdlib.
func FuzzWireStructsMatchStdlib(f *testing.F) {
	for _, b := range fastjsontest.SeedTestdata(f) {
		var env struct {
			Records []json.RawMessage `json:"records"`
		}
		if json.Unmarshal(b, &env) == nil {
			for _, r := range env.Records {
				f.Add([]byte(r))
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
	fastjsontest.SameAsStdlib[wholeEnvelope](t, b)
	fastjsontest.SameAsStdlib[rawEnvelope](t, b)
	fastjsontest.SameAsStdlib[[]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[record](t, b)
	fastjsontest.SameAsStdlib[restValue](t, b)
	fastjsontest.SameAsStdlib[string](t, b)
}

// wireSeeds are inputs where a JSON decoder may go its own way.
var wireSeeds = []string{
	// duplicate keys, and keys that differ only in case
	`{"records":[{"resourceId":"/a","resourceId":"/b"}],"records":[]}`,
	`{"time":"t1","TIME":"t2","Time":null,"resourceid":"/x","RESOURCEID":"/y","identity":{"claims":{"a":"1","a":"2","A":"3"}}}`,
	`{"identity":{"authorization":{"action":"x"},"Authorization":{"evidence":{"principalId":"p"}},"AUTHORIZATION":null}}`,
	// non-ASCII keys that fold to ASCII in encoding/json: long s, Kelvin sign, dotless i
	"{\"re\u017fourceId\":\"/a\",\"\u017fTATUS\":{\"value\":\"x\"},\"correlat\u0131onId\":\"c\",\"identity\":{\"claim\u017f\":{\"\u212a\":1}}}",
	"{\"time\":\"t\",\"\u212aey\":1,\"resultType\":\"\u017fuccess\"}",
	"{\"\u017ftatus\":{\"value\":\"Succeeded\"},\"re\u017fultType\":\"Start\"}",
	// invalid UTF-8 and bad escapes, in keys and in values
	"{\"identity\":{\"claims\":{\"upn\xff\":\"a\xfe\",\"\xc3\":\"\xed\xa0\x80\"}}}",
	"{\"resource\xffId\":\"/x\"}",
	`"\ud800"`, `"\udc00\ud800x"`, `"\u0000"`, `"\x"`, `"\u12"`, "\"a\tb\"", "\"\xff\"",
	`{"identity":{"claims":{"\ud800":1,"\u0041":2}}}`,
	// numbers, booleans, arrays, objects and nulls where strings are expected
	`{"records":[{"time":1,"resourceId":true,"operationName":["a"],"resultType":{},"identity":{"claims":{"upn":1e400}}}]}`,
	`{"records":null}`, `{"records":[null]}`, `{"records":[1]}`, `{"records":"x"}`, `{"records":{}}`,
	`{"identity":null}`, `{"identity":1}`, `{"identity":{"claims":1,"authorization":{"action":"a"}}}`,
	`{"identity":{"claims":[],"authorization":"x"},"resourceId":"/after"}`,
	`{"identity":{"authorization":{"evidence":1},"claims":{"a":"b"}},"time":"after"}`,
	`null`, `true`, `1`, `-0`, `1e999`, `01`, `1.`, `-`, `.5`, `"`, `{`, `[`, `}`, `]`, ``, ` `,
	// trailing data, odd whitespace, a byte order mark
	`{"records":[]} x`, `{"records":[]}}`, `{"records":[]}` + "\x00", "\ufeff{\"records\":[]}",
	"\t\n\r {\"records\" :\n[ ] }\r\n", "{\"records\":[]}\f", "\v{}",
	// some nesting for the fuzzer to work on
	nested(`{"records":[`, 40, `]}`), nested(`[{"data":`, 40, `}]`),
	// an escape in a key that stands for a non-ASCII letter
	`{"\u017ftatus":{"value":"Succeeded"},"identity":{"\u0061uthorization":{"action":"x"}}}`,
}

var nested = fastjsontest.Nested

// TestUnmarshalKeepsTypeErrors pins what decodeRecord relies on: after a type
// error in identity, the fields after it are still read, and the error is
// encoding/json's.
func TestUnmarshalKeepsTypeErrors(t *testing.T) {
	var r record
	err := fastjson.Unmarshal([]byte(`{"identity":{"claims":1,"authorization":{"action":"a/write"}},"resourceId":"/x"}`), &r)
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		t.Fatalf("err = %#v, want a *json.UnmarshalTypeError", err)
	}
	if string(r.ResourceID) != `"/x"` || string(r.Identity.Authorization.Action) != `"a/write"` {
		t.Fatalf("record %+v: the fields around the type error were not read", r)
	}
}

// TestFastSafeRefusesDeepInput: segmentio would overflow the stack on it (a
// body as large as Decode takes).
func TestFastSafeRefusesDeepInput(t *testing.T) {
	body := []byte(`{"records":` + strings.Repeat("[", MaxBodyBytes-20))
	if fastjson.Safe(body) {
		t.Fatal("fastjson.Safe accepts 4 MB of [")
	}
	if _, err := Decode(body); err == nil {
		t.Fatal("Decode accepts 4 MB of [")
	}
}
