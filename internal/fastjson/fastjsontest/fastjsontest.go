// Package fastjsontest holds the differential check of fastjson.Unmarshal against
// encoding/json, for the tests and fuzz targets of the packages that decode
// through it (each on its own wire structs) and of fastjson itself.
package fastjsontest

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

	"github.com/exportguard/exportguard/internal/fastjson"
)

// SameAsStdlib fails t unless fastjson.Unmarshal reads b into a T exactly as
// encoding/json does (the same error text, a type error where encoding/json's is
// one, and the same value, partial values after a type error included), and
// unless segmentio's decoder, wherever fastjson.Safe lets it answer, accepts
// nothing that encoding/json refuses or reads differently.
func SameAsStdlib[T any](t testing.TB, b []byte) {
	t.Helper()
	var want, got T
	wantErr := json.Unmarshal(b, &want)
	gotErr := fastjson.Unmarshal(b, &got)
	name := fmt.Sprintf("%T", got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: fastjson.Unmarshal says %v, encoding/json %v, on %q", name, gotErr, wantErr, Clip(b))
	}
	if IsTypeError(gotErr) != IsTypeError(wantErr) {
		t.Fatalf("%s: fastjson.Unmarshal error %#v, encoding/json's %#v: not both type errors", name, gotErr, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got, cmp.Exporter(func(reflect.Type) bool { return true }))
		t.Fatalf("%s: fastjson.Unmarshal and encoding/json read %q differently (-encoding/json +fastjson):\n%s", name, Clip(b), diff)
	}
	if !fastjson.Safe(b) {
		return
	}
	var seg T
	if err := segjson.Unmarshal(b, &seg); err == nil {
		if wantErr != nil {
			t.Fatalf("%s: segmentio accepts %q, encoding/json says %v", name, Clip(b), wantErr)
		}
		if !reflect.DeepEqual(want, seg) {
			diff := cmp.Diff(want, seg, cmp.Exporter(func(reflect.Type) bool { return true }))
			t.Fatalf("%s: segmentio and encoding/json read %q differently (-encoding/json +segmentio):\n%s", name, Clip(b), diff)
		}
	}
}

// IsTypeError reports whether err is, or wraps, a *json.UnmarshalTypeError.
func IsTypeError(err error) bool {
	_, ok := errors.AsType[*json.UnmarshalTypeError](err)
	return ok
}

// Clip shortens b to 200 bytes for a message.
func Clip(b []byte) []byte {
	if len(b) > 200 {
		return append(bytes.Clone(b[:200]), "..."...)
	}
	return b
}

// Nested returns open, then n arrays one inside the other, then close.
func Nested(open string, n int, close string) string {
	return open + strings.Repeat("[", n) + strings.Repeat("]", n) + close
}

// DeepInputs nest around encoding/json's limit of 10000 levels, and beyond it,
// whatever the shape: the cases every package's deep-input test runs, beside
// the deep ones of its own wire shapes. They are big, which slows a fuzzer
// down (it minimizes what it derives from them), and it does not make deep
// input by mutation: tests run them instead.
func DeepInputs() []string {
	return []string{
		Nested(`[`, 9999, `]`),
		Nested(`[`, 10000, `]`),
		strings.Repeat("[", 10001),
		strings.Repeat(`{"a":`, 10001),
		`"` + strings.Repeat("[", 10001) + `"`,
		`{"a":"` + strings.Repeat(`\"[`, 10001) + `"}`,
		strings.Repeat("]", 10001) + strings.Repeat("[", 10001),
	}
}

// SeedTestdata adds every testdata/*.json file of the package under test to
// f's corpus and returns their contents, for the caller to add parts of them.
func SeedTestdata(f *testing.F) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		out = append(out, b)
	}
	return out
}
