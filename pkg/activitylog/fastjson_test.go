package activitylog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	segjson "github.com/segmentio/encoding/json"
)

// FuzzWireStructsMatchStdlib is the differential test of the fast JSON path: for
// any input, every wire struct Decode reads reads the same through unmarshal as
// through encoding/json (the same error, of the same type, and the same value,
// partial values after a type error included), and segmentio's decoder, wherever
// fastSafe lets it answer, accepts nothing that encoding/json refuses or reads
// differently.
func FuzzWireStructsMatchStdlib(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
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
	sameAsStdlib[wholeEnvelope](t, b)
	sameAsStdlib[rawEnvelope](t, b)
	sameAsStdlib[[]json.RawMessage](t, b)
	sameAsStdlib[record](t, b)
	sameAsStdlib[restValue](t, b)
	sameAsStdlib[string](t, b)
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

// deepInputs nest around encoding/json's limit of 10000 levels, and beyond it.
// They are big, which slows the fuzzer down (it minimizes what it derives from
// them), and it does not make deep input by mutation: TestDeepInputsMatchStdlib
// runs them instead.
var deepInputs = []string{
	nested(`{"records":[`, 9998, `]}`),
	nested(`{"records":[`, 9999, `]}`),
	nested(`{"records":[`, 10000, `]}`),
	`{"identity":{"claims":{"a":` + nested("", 9997, "") + `}}}`,
	`{"identity":{"claims":{"a":` + nested("", 9998, "") + `}}}`,
	strings.Repeat("[", 10001),
	strings.Repeat(`{"a":`, 10001),
	`"` + strings.Repeat("[", 10001) + `"`,
	`{"a":"` + strings.Repeat(`\"[`, 10001) + `"}`,
	strings.Repeat("]", 10001) + strings.Repeat("[", 10001),
}

// TestDeepInputsMatchStdlib is FuzzWireStructsMatchStdlib on deepInputs.
func TestDeepInputsMatchStdlib(t *testing.T) {
	for _, s := range deepInputs {
		checkWire(t, []byte(s))
	}
}

// nested returns open, then n arrays one inside the other, then close.
func nested(open string, n int, close string) string {
	return open + strings.Repeat("[", n) + strings.Repeat("]", n) + close
}

func sameAsStdlib[T any](t *testing.T, b []byte) {
	t.Helper()
	var want, got T
	wantErr := json.Unmarshal(b, &want)
	gotErr := unmarshal(b, &got)
	name := fmt.Sprintf("%T", got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: unmarshal says %v, encoding/json %v, on %q", name, gotErr, wantErr, clip(b))
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](gotErr); ok != isTypeError(wantErr) {
		t.Fatalf("%s: unmarshal error %#v is a type error: %v, encoding/json's %#v: %v", name, gotErr, ok, wantErr, !ok)
	}
	if !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got)
		t.Fatalf("%s: unmarshal and encoding/json read %q differently (-encoding/json +unmarshal):\n%s", name, clip(b), diff)
	}
	if !fastSafe(b) {
		return
	}
	var seg T
	if err := segjson.Unmarshal(b, &seg); err == nil {
		if wantErr != nil {
			t.Fatalf("%s: segmentio accepts %q, encoding/json says %v", name, clip(b), wantErr)
		}
		if !reflect.DeepEqual(want, seg) {
			diff := cmp.Diff(want, seg)
			t.Fatalf("%s: segmentio and encoding/json read %q differently (-encoding/json +segmentio):\n%s", name, clip(b), diff)
		}
	}
}

func isTypeError(err error) bool {
	_, ok := errors.AsType[*json.UnmarshalTypeError](err)
	return ok
}

func clip(b []byte) []byte {
	if len(b) > 200 {
		return append(bytes.Clone(b[:200]), "..."...)
	}
	return b
}

// TestUnmarshalKeepsTypeErrors pins what decodeRecord relies on: after a type
// error in identity, the fields after it are still read, and the error is
// encoding/json's.
func TestUnmarshalKeepsTypeErrors(t *testing.T) {
	var r record
	err := unmarshal([]byte(`{"identity":{"claims":1,"authorization":{"action":"a/write"}},"resourceId":"/x"}`), &r)
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		t.Fatalf("err = %#v, want a *json.UnmarshalTypeError", err)
	}
	if string(r.ResourceID) != `"/x"` || string(r.Identity.Authorization.Action) != `"a/write"` {
		t.Fatalf("record %+v: the fields around the type error were not read", r)
	}
}

// TestFastSafe checks what keeps input from segmentio's decoder.
func TestFastSafe(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"records":[{"time":"2019-01-21T22:14:26Z"}]}`, true},
		{nested("", maxNesting, ""), true},
		{nested("", maxNesting+1, ""), false},
		{nested(`{"a":`, maxNesting-1, `}`), true},
		{nested(`{"a":`, maxNesting, `}`), false},
		{`["` + strings.Repeat("[", 2*maxNesting) + `"]`, true},
		{`["\"` + strings.Repeat("[", 2*maxNesting) + `"]`, true},
		{`["\\",` + nested("", maxNesting, "") + `]`, false},
		{strings.Repeat("]", 2*maxNesting) + strings.Repeat("[", maxNesting+1), false},
		{strings.Repeat("[]", 2*maxNesting), true},
		{"{\"\u017ftatus\":1}", false},
		{`{"\u017ftatus":1}`, false},
		{`{"\n" :1}`, false},
		{"{\"a\xff\"\t\r\n :1}", false},
		{"{\"a\":\"\u017f\"}", true},
		{`{"a":"\u017f","b":["\n"]}`, true},
		{"[\"\u017f\", 1]", true},
		{"{\"a\":\"x\\\"\u017f\":1}", false},
		{"\"\u017f", true},
		{`"\`, true},
	} {
		if got := fastSafe([]byte(c.in)); got != c.want {
			t.Errorf("fastSafe(%.80q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestFastSafeRefusesDeepInput: segmentio would overflow the stack on it.
func TestFastSafeRefusesDeepInput(t *testing.T) {
	body := []byte(`{"records":` + strings.Repeat("[", MaxBodyBytes-20))
	if fastSafe(body) {
		t.Fatal("fastSafe accepts 4 MB of [")
	}
	if _, err := Decode(body); err == nil {
		t.Fatal("Decode accepts 4 MB of [")
	}
}
