package functions

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
// any input, everything the handler reads of an invocation through unmarshal (the
// envelope, Data, Data.events as a string and as an array) reads the same as
// through encoding/json (the same error, of the same type, and the same value),
// and segmentio's decoder, wherever fastSafe lets it answer, accepts nothing that
// encoding/json refuses or reads differently.
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
	sameAsStdlib[invocationEnvelope](t, b)
	sameAsStdlib[map[string]json.RawMessage](t, b)
	sameAsStdlib[string](t, b)
	sameAsStdlib[[]json.RawMessage](t, b)
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

// deepInputs nest around encoding/json's limit of 10000 levels, and beyond it:
// TestDeepInputsMatchStdlib runs them, the fuzzer does not make such input.
var deepInputs = []string{
	nested(`[`, 9999, `]`),
	nested(`[`, 10000, `]`),
	nested(`{"Data":`, 9999, `}`),
	`{"Data":{"events":` + nested("", 9998, "") + `}}`,
	`{"Data":{"events":` + nested("", 9999, "") + `}}`,
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
		t.Fatalf("%s: unmarshal says %v, encoding/json %v, on %q", name, gotErr, wantErr, clipInput(b))
	}
	if isTypeError(gotErr) != isTypeError(wantErr) {
		t.Fatalf("%s: unmarshal error %#v, encoding/json's %#v: not both type errors", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got)
		t.Fatalf("%s: unmarshal and encoding/json read %q differently (-encoding/json +unmarshal):\n%s", name, clipInput(b), diff)
	}
	if !fastSafe(b) {
		return
	}
	var seg T
	if err := segjson.Unmarshal(b, &seg); err == nil {
		if wantErr != nil {
			t.Fatalf("%s: segmentio accepts %q, encoding/json says %v", name, clipInput(b), wantErr)
		}
		if !reflect.DeepEqual(want, seg) {
			diff := cmp.Diff(want, seg)
			t.Fatalf("%s: segmentio and encoding/json read %q differently (-encoding/json +segmentio):\n%s", name, clipInput(b), diff)
		}
	}
}

func isTypeError(err error) bool {
	_, ok := errors.AsType[*json.UnmarshalTypeError](err)
	return ok
}

func clipInput(b []byte) []byte {
	if len(b) > 200 {
		return append(bytes.Clone(b[:200]), "..."...)
	}
	return b
}
