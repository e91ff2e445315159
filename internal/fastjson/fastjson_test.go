package fastjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/internal/fastjson/fastjsontest"
)

// maxNesting is encoding/json's nesting limit.
const maxNesting = 10000

var nested = fastjsontest.Nested

// The shapes below stand for what the callers decode (the wire structs of
// pkg/activitylog, pkg/eventgrid and pkg/functions, the ARM bodies of pkg/rules):
// raw fields, nested structs and pointers to them, maps, slices, numbers, and
// types with their own UnmarshalJSON. Each package's own fuzz target checks its
// real structs.

// envelope is an envelope read raw: {"records":[...]}, {"data":...}.
type envelope struct {
	Records []json.RawMessage `json:"records"`
	Data    json.RawMessage   `json:"data"`
	Events  json.RawMessage   `json:"events"`
}

// event is a record or an event: raw fields, nested structs, pointers, maps.
type event struct {
	ID         string          `json:"id"`
	Time       json.RawMessage `json:"time"`
	ResourceID json.RawMessage `json:"resourceId"`
	Status     struct {
		Value string `json:"value"`
	} `json:"status"`
	Identity *struct {
		Claims        map[string]json.RawMessage `json:"claims"`
		Authorization *struct {
			Action   json.RawMessage `json:"action"`
			Evidence struct {
				PrincipalID string `json:"principalId"`
			} `json:"evidence"`
		} `json:"authorization"`
	} `json:"identity"`
	Data    map[string]json.RawMessage `json:"data"`
	Labels  map[string]string          `json:"labels"`
	Tags    []string                   `json:"tags"`
	Count   int                        `json:"count"`
	Ratio   float64                    `json:"ratio"`
	On      *bool                      `json:"on"`
	Opt     *string                    `json:"opt"`
	K       string                     `json:"k"`
	Skipped string                     `json:"-"`
}

// armBody is an ARM resource body as the rules read it: pointers to properties,
// lists of objects, and lenient values with their own UnmarshalJSON.
type armBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties *struct {
		Enabled   lenientBool `json:"enabled"`
		Exp       lenientNum  `json:"exp"`
		Locations []struct {
			LocationName     string     `json:"locationName"`
			FailoverPriority lenientNum `json:"failoverPriority"`
		} `json:"locations"`
		MinimalTLSVersion *string         `json:"minimalTlsVersion"`
		Raw               rawCopy         `json:"raw"`
		Strict            strictString    `json:"strict"`
		Encryption        json.RawMessage `json:"encryption"`
		Databases         []string        `json:"databases"`
	} `json:"properties"`
	SKU struct {
		Name string `json:"name"`
	} `json:"sku"`
}

// lenientBool reads true/false, 1/0 or their strings, and anything else as unset.
type lenientBool struct{ Set, Value bool }

func (b *lenientBool) UnmarshalJSON(raw []byte) error {
	*b = lenientBool{}
	switch strings.ToLower(strings.Trim(strings.TrimSpace(string(raw)), `"`)) {
	case "true", "1":
		*b = lenientBool{Set: true, Value: true}
	case "false", "0":
		*b = lenientBool{Set: true}
	}
	return nil
}

// lenientNum keeps the text of a number or string as it was given.
type lenientNum struct {
	Set  bool
	Text string
}

func (n *lenientNum) UnmarshalJSON(raw []byte) error {
	*n = lenientNum{Set: true, Text: strings.Trim(string(raw), `"`)}
	return nil
}

// rawCopy keeps exactly the bytes its UnmarshalJSON is given.
type rawCopy []byte

func (r *rawCopy) UnmarshalJSON(raw []byte) error {
	*r = append(rawCopy(nil), raw...)
	return nil
}

// strictString refuses anything but a JSON string: an error that is not a type error.
type strictString string

func (s *strictString) UnmarshalJSON(raw []byte) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("strictString: not a string")
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*s = strictString(v)
	return nil
}

// check runs every check of FuzzUnmarshalMatchesStdlib on b.
func check(t *testing.T, b []byte) {
	t.Helper()
	fastjsontest.SameAsStdlib[envelope](t, b)
	fastjsontest.SameAsStdlib[event](t, b)
	fastjsontest.SameAsStdlib[armBody](t, b)
	fastjsontest.SameAsStdlib[[]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[map[string]json.RawMessage](t, b)
	fastjsontest.SameAsStdlib[map[string]string](t, b)
	fastjsontest.SameAsStdlib[[]string](t, b)
	fastjsontest.SameAsStdlib[string](t, b)
	fastjsontest.SameAsStdlib[*event](t, b)
	checkString(t, b)
}

// checkString checks String against encoding/json: a string reads as it does,
// null and nothing as "", and anything else is not ok.
func checkString(t *testing.T, b []byte) {
	t.Helper()
	got, ok := fastjson.String(b)
	if len(b) == 0 || string(b) == "null" {
		if !ok || got != "" {
			t.Fatalf("String(%q) = %q, %v; want \"\", true", b, got, ok)
		}
		return
	}
	var want string
	err := json.Unmarshal(b, &want)
	if ok != (err == nil) || got != want {
		t.Fatalf("String(%q) = %q, %v; encoding/json reads %q (%v)", b, got, ok, want, err)
	}
}

func TestString(t *testing.T) {
	for _, b := range []string{``, `null`, `"plain"`, `"esc\"aped"`, `"caf\u00e9"`, `"café"`, `  "spaced"  `, `12`, `true`,
		`{"a":1}`, `["x"]`, `"unterminated`, `"tab\there"`, "\"ctl\x01\"", `nul`} {
		checkString(t, []byte(b))
	}
}

// FuzzUnmarshalMatchesStdlib is the differential test of Unmarshal: for any
// input, each shape above reads the same through Unmarshal as through
// encoding/json (the same error, of the same type, and the same value, partial
// values after a type error included), and segmentio's decoder, wherever Safe
// lets it answer, accepts nothing that encoding/json refuses or reads
// differently.
func FuzzUnmarshalMatchesStdlib(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
	})
}

// seeds are inputs where a JSON decoder may go its own way: the ones the
// packages' own fuzz targets start from, in the shapes above.
var seeds = []string{
	// plain input, as the callers see it
	`{"records":[{"time":"2019-01-21T22:14:26Z","resourceId":"/a","identity":{"claims":{"upn":"u"},"authorization":{"action":"x","evidence":{"principalId":"p"}}}}]}`,
	`[{"id":"a","eventType":"t","data":{"resourceUri":"/a","claims":{"a":"b"}}}]`,
	`{"Data":{"events":"[\"{\\\"records\\\":[]}\"]"},"Metadata":{"PartitionContext":"{}"}}`,
	`{"id":"/s/x","name":"x","location":"eastus","sku":{"name":"Standard_GRS"},"properties":{"enabled":"true","exp":1.7e9,"locations":[{"locationName":"East US","failoverPriority":0}],"minimalTlsVersion":"Tls12","raw":{ "a" : [ 1 , 2 ] },"strict":"s","databases":["d"]}}`,
	`{"id":"x","count":3,"ratio":0.5,"on":true,"opt":"o","tags":["a","b"],"labels":{"a":"b"},"k":"v","-":"dash"}`,
	// duplicate keys, and keys that differ only in case
	`{"records":[{"resourceId":"/a","resourceId":"/b"}],"records":[]}`,
	`{"time":"t1","TIME":"t2","Time":null,"resourceid":"/x","RESOURCEID":"/y","identity":{"claims":{"a":"1","a":"2","A":"3"}}}`,
	`{"identity":{"authorization":{"action":"x"},"Authorization":{"evidence":{"principalId":"p"}},"AUTHORIZATION":null}}`,
	`{"properties":{"enabled":1},"PROPERTIES":{"exp":2},"Properties":null}`,
	`{"data":{"a":1,"a":2,"A":3},"metadata":[]}`,
	// non-ASCII keys that fold to ASCII in encoding/json: long s, Kelvin sign, dotless i
	"{\"re\u017fourceId\":\"/a\",\"\u017fTATUS\":{\"value\":\"x\"},\"correlat\u0131onId\":\"c\",\"identity\":{\"claim\u017f\":{\"\u212a\":1}}}",
	"{\"time\":\"t\",\"\u212a\":1,\"resultType\":\"\u017fuccess\"}",
	"{\"\u017ftatus\":{\"value\":\"Succeeded\"},\"re\u017fultType\":\"Start\"}",
	"{\"\u017fku\":{\"name\":\"x\"},\"propertie\u017f\":{\"databa\u017fes\":[\"d\"]}}",
	`{"\u017ftatus":{"value":"Succeeded"},"identity":{"\u0061uthorization":{"action":"x"}}}`,
	// invalid UTF-8 and bad escapes, in keys and in values
	"{\"identity\":{\"claims\":{\"upn\xff\":\"a\xfe\",\"\xc3\":\"\xed\xa0\x80\"}}}",
	"{\"resource\xffId\":\"/x\",\"id\":\"\xff\"}",
	`"\ud800"`, `"\udc00\ud800x"`, `"\u0000"`, `"\x"`, `"\u12"`, "\"a\tb\"", "\"\xff\"", `"a\/b"`, `"\u003c&>"`,
	`{"identity":{"claims":{"\ud800":1,"\u0041":2}}}`,
	`{"\ud800":1,"\u0041":2,"a\nb":3,"<&>":4,"\u2028":5}`,
	"{\"\u2028\":1,\"\u00e9\":2,\"\x7f\":3}",
	// numbers, booleans, arrays, objects and nulls where other kinds are expected
	`{"records":[{"time":1,"resourceId":true,"identity":{"claims":{"upn":1e400}}}]}`,
	`{"id":1,"count":"3","ratio":1e400,"on":"true","opt":1,"tags":"a","labels":[],"k":{}}`,
	`{"count":1.5,"ratio":"x","id":"after"}`, `{"count":99999999999999999999,"id":"after"}`,
	`{"properties":{"strict":1,"name":"after"},"name":"n"}`, `{"properties":{"databases":"d"},"name":"after"}`,
	`{"properties":1}`, `{"properties":[]}`, `{"properties":{"locations":{}}}`, `{"properties":{"locations":[1]}}`,
	`{"records":null}`, `{"records":[null]}`, `{"records":[1]}`, `{"records":"x"}`, `{"records":{}}`,
	`{"identity":null}`, `{"identity":1}`, `{"identity":{"claims":1,"authorization":{"action":"a"}}}`,
	`{"identity":{"claims":[],"authorization":"x"},"resourceId":"/after"}`,
	`{"identity":{"authorization":{"evidence":1},"claims":{"a":"b"}},"time":"after"}`,
	`["\"x\"", {"records":[]}, null, 1, [], "\\\"\\\""]`,
	`null`, `true`, `1`, `-0`, `1e999`, `01`, `1.`, `-`, `.5`, `"`, `{`, `[`, `}`, `]`, ``, ` `, `[1,]`, `{"a":1,}`,
	// trailing data, odd whitespace, a byte order mark
	`{"records":[]} x`, `{"records":[]}}`, `{"records":[]}` + "\x00", "\ufeff{\"records\":[]}",
	"\t\n\r {\"records\" :\n[ ] }\r\n", "{\"records\":[]}\f", "\v{}", `[{}] x`, `[{}]]`,
	"{ \"data\" : { \"a\" : [ 1 , \"x y\" , { } ] } ,\n\"id\":\t\"1.0\" }",
	// some nesting for the fuzzer to work on
	nested(`{"records":[`, 40, `]}`), nested(`[{"data":`, 40, `}]`), nested(`{"properties":{"raw":`, 40, `}}`),
}

// deepInputs are fastjsontest.DeepInputs and deep ones of the shapes check
// reads; TestDeepInputsMatchStdlib runs them, as the fuzzer does not.
var deepInputs = append(fastjsontest.DeepInputs(),
	nested(`{"records":[`, 9998, `]}`),
	nested(`{"records":[`, 9999, `]}`),
	nested(`{"records":[`, 10000, `]}`),
	nested(`{"data":`, 9999, `}`),
	nested(`{"Data":`, 9999, `}`),
	`{"identity":{"claims":{"a":`+nested("", 9997, "")+`}}}`,
	`{"identity":{"claims":{"a":`+nested("", 9998, "")+`}}}`,
	`{"data":{"claims":{"a":`+nested("", 9997, "")+`}}}`,
	`{"data":{"claims":{"a":`+nested("", 9998, "")+`}}}`,
	`{"Data":{"events":`+nested("", 9998, "")+`}}`,
	`{"Data":{"events":`+nested("", 9999, "")+`}}`,
	`{"properties":{"raw":`+nested("", 9998, "")+`}}`,
	`{"properties":{"raw":`+nested("", 9999, "")+`}}`,
)

// TestDeepInputsMatchStdlib is FuzzUnmarshalMatchesStdlib on deepInputs.
func TestDeepInputsMatchStdlib(t *testing.T) {
	for _, s := range deepInputs {
		check(t, []byte(s))
	}
}

// TestUnmarshalKeepsTypeErrors pins what the Activity Log and Event Grid readers
// rely on: after a type error, the fields around it are still read, and the
// error is encoding/json's.
func TestUnmarshalKeepsTypeErrors(t *testing.T) {
	var e event
	err := fastjson.Unmarshal([]byte(`{"identity":{"claims":1,"authorization":{"action":"a/write"}},"resourceId":"/x"}`), &e)
	if !fastjsontest.IsTypeError(err) {
		t.Fatalf("err = %#v, want a *json.UnmarshalTypeError", err)
	}
	if string(e.ResourceID) != `"/x"` || e.Identity == nil || e.Identity.Authorization == nil ||
		string(e.Identity.Authorization.Action) != `"a/write"` {
		t.Fatalf("event %+v: the fields around the type error were not read", e)
	}
}

// TestUnmarshalFoldsKeysAsStdlib pins the key folding segmentio does differently
// (the long s; the Kelvin sign it folds as encoding/json does).
func TestUnmarshalFoldsKeysAsStdlib(t *testing.T) {
	for _, in := range []string{"{\"\u017ftatus\":{\"value\":\"v\"},\"\u212a\":\"v\"}", `{"\u017ftatus":{"value":"v"},"\u212a":"v"}`} {
		var e event
		if err := fastjson.Unmarshal([]byte(in), &e); err != nil || e.Status.Value != "v" || e.K != "v" {
			t.Errorf("Unmarshal(%q) = %+v, %v: want status and k read, as encoding/json does", in, e, err)
		}
	}
}

// TestSafe checks what keeps input from segmentio's decoder.
func TestSafe(t *testing.T) {
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
		if got := fastjson.Safe([]byte(c.in)); got != c.want {
			t.Errorf("Safe(%.80q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestSafeRefusesDeepInput: segmentio would overflow the stack on it.
func TestSafeRefusesDeepInput(t *testing.T) {
	body := []byte(`{"records":` + strings.Repeat("[", 4<<20))
	if fastjson.Safe(body) {
		t.Fatal("Safe accepts 4 MB of [")
	}
	var e envelope
	if err := fastjson.Unmarshal(body, &e); err == nil {
		t.Fatal("Unmarshal accepts 4 MB of [")
	}
}

// TestStringEnd checks the string scan Safe (and pkg/eventgrid) relies on.
func TestStringEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`"abc"`, 4},
		{`"a\"b"`, 5},
		{`"a\\"b"`, 4},
		{`"a\\\"b"`, 7},
		{`"\\\\"`, 5},
		{`"abc`, 4},
		{`"a\"`, 4},
		{`""`, 1},
		{`"`, 1},
	} {
		if got := fastjson.StringEnd([]byte(c.in), 0); got != c.want {
			t.Errorf("StringEnd(%q, 0) = %d, want %d", c.in, got, c.want)
		}
	}
	b := []byte(`{"a":"x\"y","b":1}`)
	if got := fastjson.StringEnd(b, bytes.IndexByte(b[4:], '"')+4); got != 10 {
		t.Errorf("StringEnd at the value of a = %d, want 10", got)
	}
}
