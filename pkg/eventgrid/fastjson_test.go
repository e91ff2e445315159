package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// FuzzWireStructsMatchStdlib is the differential test of the fast JSON path on
// this package's wire structs: for any input, every wire struct Decode reads
// reads the same through fastjson.Unmarshal as through encoding/json (the same
// error, of the same type, and the same value, partial values after a type error
// included), and segmentio's decoder, wherever fastjson.Safe lets it answer,
// accepts nothing that encoding/json refuses or reads differently
// (fastjsontest.SameAsStdlib). It also holds decodeData to what it was with
// encoding/json alone, and encodeAttrs to the bytes json.Encoder writes, which
// the SDK reads. TestDeepInputsMatchStdlib runs the same checks on deep input.
func FuzzWireStructsMatchStdlib(f *testing.F) {
	for _, b := range fastjsontest.SeedTestdata(f) {
		var events []json.RawMessage
		if json.Unmarshal(b, &events) == nil {
			for _, e := range events {
				f.Add([]byte(e))
			}
		}
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(b, &e) == nil && e.Data != nil {
			f.Add([]byte(e.Data))
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
	fastjsontest.SameAsStdlib[[]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[map[string]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[egEvent](t, b)
	fastjsontest.SameAsStdlib[resourceData](t, b)
	fastjsontest.SameAsStdlib[notificationData](t, b)
	fastjsontest.SameAsStdlib[string](t, b)
	sameDecodeData[resourceData](t, b)
	sameDecodeData[notificationData](t, b)
	sameDecodeData[map[string]json.RawMessage](t, b)
	var attrs map[string]json.RawMessage
	if json.Unmarshal(b, &attrs) == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(attrs); err != nil {
			t.Fatalf("json.Encoder: %v", err)
		}
		if got := encodeAttrs(attrs); !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("encodeAttrs wrote\n%q\njson.Encoder\n%q", clip(got), clip(buf.Bytes()))
		}
	}
}

// wireSeeds are inputs where a JSON decoder may go its own way.
var wireSeeds = []string{
	// duplicate keys, and keys that differ only in case
	`[{"id":"a","id":"b","eventType":"x","EVENTTYPE":"y"}]`,
	`{"specversion":"1.0","specVersion":"1.0","SPECVERSION":null,"data":{"resourceUri":"/a","RESOURCEURI":"/b","resourceuri":1}}`,
	`{"authorization":{"action":"x"},"Authorization":{"evidence":{"principalId":"p"}},"claims":{"a":"1","a":"2","A":"3"}}`,
	`{"resourceInfo":{"id":"/a"},"resourceinfo":null}`,
	// non-ASCII keys that fold to ASCII in encoding/json: long s, Kelvin sign
	"{\"\u017fubject\":\"/a\",\"eventType\":\"t\",\"re\u017fourceUri\":\"/b\",\"\u017fubscriptionId\":\"s\"}",
	`{"\u017fubscriptionId":"s","operationName":"\u017f","\u212a":1}`,
	"{\"claim\u017f\":{\"\u212a\":\"v\"},\"correlationId\":\"c\"}",
	// invalid UTF-8 and bad escapes, in keys and in values
	"{\"claims\":{\"upn\xff\":\"a\xfe\",\"\xc3\":\"\xed\xa0\x80\"},\"resourceUri\":\"/x\xff\"}",
	"{\"event\xffType\":\"t\"}",
	`"\ud800"`, `"\udc00\ud800x"`, `"\u0000"`, `"\x"`, `"\u12"`, "\"a\tb\"", "\"\xff\"", `"a\/b"`, `"\u003c&>"`,
	`{"\ud800":1,"\u0041":2,"a\nb":3,"<&>":4,"\u2028":5}`,
	"{\"\u2028\":1,\"\u00e9\":2,\"\x7f\":3}",
	// numbers, booleans, arrays, objects and nulls where strings are expected
	`{"id":1,"eventType":true,"topic":["a"],"subject":{},"eventTime":1e400,"data":"x"}`,
	`{"resourceUri":1,"claims":[],"authorization":"x","operationName":"after"}`,
	`{"authorization":{"evidence":1},"claims":{"a":"b"},"correlationId":"after"}`,
	`{"resourceInfo":1}`, `{"resourceInfo":null}`, `{"claims":null}`, `{"claims":{"a":null}}`,
	`null`, `true`, `1`, `-0`, `1e999`, `01`, `1.`, `-`, `.5`, `"`, `{`, `[`, `}`, `]`, ``, ` `, `[1,]`, `{"a":1,}`,
	// trailing data, odd whitespace, a byte order mark
	`[{}] x`, `[{}]]`, `{}` + "\x00", "\ufeff[{}]",
	"\t\n\r [ {\"id\" :\n\"a\" } ]\r\n", "{}\f", "\v{}",
	"{ \"data\" : { \"a\" : [ 1 , \"x y\" , { } ] } ,\n\"specversion\":\t\"1.0\" }",
	// some nesting for the fuzzer to work on
	nested(`{"records":[`, 40, `]}`), nested(`[{"data":`, 40, `}]`),
	// an escape in a key that stands for a non-ASCII letter
	`{"\u017fubject":"/a","claims":{"\u0061":"b"}}`,
}

// deepInputs are fastjsontest.DeepInputs and deep events. internal/fastjson's
// TestDeepInputsMatchStdlib holds fastjson.Unmarshal to encoding/json on such
// input; this one runs checkWire on them for what is this package's own
// (decodeData, encodeAttrs).
var deepInputs = append(fastjsontest.DeepInputs(),
	nested(`{"data":`, 9999, `}`),
	`{"data":{"claims":{"a":`+nested("", 9997, "")+`}}}`,
	`{"data":{"claims":{"a":`+nested("", 9998, "")+`}}}`,
)

// TestDeepInputsMatchStdlib is FuzzWireStructsMatchStdlib on deepInputs.
func TestDeepInputsMatchStdlib(t *testing.T) {
	for _, s := range deepInputs {
		checkWire(t, []byte(s))
	}
}

var (
	nested = fastjsontest.Nested
	clip   = fastjsontest.Clip
)

// sameDecodeData holds decodeData to what it was with encoding/json alone.
func sameDecodeData[T any](t *testing.T, b []byte) {
	t.Helper()
	var want, got T
	wantErr := decodeDataStdlib(b, &want)
	gotErr := decodeData(b, &got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("decodeData into %T says %v, with encoding/json %v, on %q", got, gotErr, wantErr, clip(b))
	}
	if !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got)
		t.Fatalf("decodeData into %T reads %q differently (-encoding/json +now):\n%s", got, clip(b), diff)
	}
}

// decodeDataStdlib is decodeData as it was before the fast path.
func decodeDataStdlib(data json.RawMessage, v any) error {
	b := bytes.TrimSpace(data)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '{' || !json.Valid(b) {
		return errors.New("data is not a JSON object")
	}
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(b, v); err != nil && !errors.As(err, &typeErr) {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// TestDecodeDataKeepsTypeErrors pins what the event readers rely on: after a
// type error in data, the fields around it are still read.
func TestDecodeDataKeepsTypeErrors(t *testing.T) {
	var d resourceData
	if err := decodeData([]byte(`{"resourceUri":"/x","claims":1,"operationName":"a/write"}`), &d); err != nil {
		t.Fatal(err)
	}
	if string(d.ResourceURI) != `"/x"` || string(d.OperationName) != `"a/write"` {
		t.Fatalf("data %+v: the fields around the type error were not read", d)
	}
}

// TestFastSafeRefusesDeepInput: segmentio would overflow the stack on it.
func TestFastSafeRefusesDeepInput(t *testing.T) {
	body := []byte(strings.Repeat("[", MaxBodyBytes))
	if fastjson.Safe(body) {
		t.Fatal("fastjson.Safe accepts 4 MB of [")
	}
	if _, err := Decode(body); err == nil {
		t.Fatal("Decode accepts 4 MB of [")
	}
}
