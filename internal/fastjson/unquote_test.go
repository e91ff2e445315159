package fastjson

import (
	"encoding/json"
	"testing"
)

// unquoteSeeds are literals of every kind unquoteSimple takes or leaves to
// encoding/json.
var unquoteSeeds = []string{
	`""`, `"a"`, ` "a" `, "\t\"a\"\r\n", `"a\"b"`, `"\\"`, `"\/\b\f\n\r\t"`, `"é ☃ 𝄞"`,
	`"\u00e9"`, `"\ud834\udd1e"`, `"\ud834"`, `"\x"`, `"a\"`, `"a"b"`, `"a""`, `"` + "\x01" + `"`,
	"\"\xff\"", "\"\xed\xa0\x80\"", `"abc`, `abc"`, `"`, `'a'`, "\v\"a\"", `"a" "b"`, `null`, `1`,
	`"[\"{\\\"records\\\":[{\\\"time\\\":\\\"2026-01-01T00:00:00Z\\\"}]}\"]"`,
}

func checkUnquote(t *testing.T, b []byte) {
	t.Helper()
	var want string
	wantErr := json.Unmarshal(b, &want)
	got, err := Unquote(b)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("Unquote(%q): error %v, encoding/json %v", b, err, wantErr)
	}
	if err == nil && string(got) != want {
		t.Fatalf("Unquote(%q) = %q, encoding/json %q", b, got, want)
	}
}

func TestUnquoteMatchesStdlib(t *testing.T) {
	for _, s := range unquoteSeeds {
		checkUnquote(t, []byte(s))
	}
	// The fast path does take the usual literal: a host batch, escaped twice.
	host, _ := json.Marshal(`["{\"records\":[{\"time\":\"2026-01-01T00:00:00Z\",\"resourceId\":\"/subscriptions/x\"}]}"]`)
	twice, _ := json.Marshal(string(host))
	for _, lit := range [][]byte{host, twice} {
		if _, ok := unquoteSimple(lit); !ok {
			t.Errorf("unquoteSimple refused %s", lit)
		}
		checkUnquote(t, lit)
	}
}

func FuzzUnquoteMatchesStdlib(f *testing.F) {
	for _, s := range unquoteSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkUnquote(t, b) })
}
