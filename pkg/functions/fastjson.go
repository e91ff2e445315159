package functions

import (
	"bytes"
	"encoding/json"

	"unicode/utf8"

	"github.com/segmentio/asm/ascii"
	segjson "github.com/segmentio/encoding/json"
)

// The fast JSON path (issue 8). encoding/json was most of the handler's time
// reading an invocation (the envelope, Data.events as a string holding an array of
// strings, each body unquoted): it checks the whole input before it decodes it,
// and then decodes by reflection.
// github.com/segmentio/encoding/json decodes in one pass, several times faster,
// and its error types are aliases of encoding/json's. It is not a drop-in
// replacement for untrusted input, though, so it is used only through unmarshal,
// which gives encoding/json's answer for every input:
//
//   - segmentio has no nesting limit and recurses once per level: a 4 MB body of
//     "[" overflows the goroutine stack, a fatal error that recover cannot catch,
//     where encoding/json refuses more than 10000 levels. fastSafe lets no deeper
//     input reach it.
//   - On a type error segmentio stops reading the object, where encoding/json
//     skips the field and reads the rest, and its error messages are worded
//     differently. Whatever segmentio refuses is
//     therefore read again by encoding/json, from a zero value: errors (text and
//     type) and partial values are encoding/json's.
//   - segmentio folds a non-ASCII object key differently when it matches it to a
//     struct field: encoding/json takes "ſtatus" (long s, or "\u017ftatus") and
//     "\u212a" (the Kelvin sign) for "status" and "k", segmentio does not, and
//     reads such a field as absent. fastSafe sends input with a key that has a
//     byte outside ASCII or an escape to encoding/json. Non-ASCII and invalid
//     UTF-8 in values read the same in both (U+FFFD for invalid bytes).
//
// FuzzWireStructsMatchStdlib checks that unmarshal and encoding/json agree on
// every wire struct of this package, and that segmentio, wherever fastSafe lets
// it answer, accepts nothing encoding/json refuses or reads differently.

// maxNesting is encoding/json's nesting limit: input nested deeper is an error there.
const maxNesting = 10000

// unmarshal is json.Unmarshal, faster where it can be: the same error (message and
// type) and the same value for every input. v must point to a zero value.
func unmarshal[T any](b []byte, v *T) error {
	if fastSafe(b) {
		if segjson.Unmarshal(b, v) == nil {
			return nil
		}
		var zero T
		*v = zero
	}
	return json.Unmarshal(b, v)
}

// fastSafe reports whether b may go to segmentio's decoder: nested no deeper
// than encoding/json allows, and with no object key that is not plain ASCII. The
// usual input (ASCII, no escapes, fewer brackets than the limit) is told by three
// quick passes; any other is scanned.
func fastSafe(b []byte) bool {
	if ascii.Valid(b) && bytes.IndexByte(b, '\\') < 0 &&
		bytes.Count(b, []byte{'{'})+bytes.Count(b, []byte{'['}) <= maxNesting {
		return true
	}
	return scanSafe(b)
}

// scanSafe reports whether the brackets of b outside strings nest no deeper than
// maxNesting and no string followed by a colon (an object key) has a byte outside
// ASCII or an escape (which may stand for one). b need not be valid JSON: the
// scan follows strings the way a JSON reader does, so that no reader nests deeper
// on b than the scan counted before it fails.
func scanSafe(b []byte) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringEnd(b, i)
			if end < len(b) && isKey(b[end+1:]) && !plainKey(b[i+1:end]) {
				return false
			}
			i = end
		case '{', '[':
			if depth++; depth > maxNesting {
				return false
			}
		case '}', ']':
			if depth > 0 { // an unmatched one ends any reader: not counting it is only stricter
				depth--
			}
		}
	}
	return true
}

// stringEnd returns the index of the quote that closes the string opening at
// b[open], or len(b) if none does: the first quote after it that is not escaped,
// that is, not after an odd run of backslashes.
func stringEnd(b []byte, open int) int {
	for j := open + 1; ; j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		run := 0
		for p := j - 1; p > open && b[p] == '\\'; p-- {
			run++
		}
		if run%2 == 0 {
			return j
		}
	}
}

// plainKey reports whether the text of a key is ASCII without escapes.
func plainKey(k []byte) bool {
	for _, c := range k {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isKey reports whether rest, what follows a string, starts with a colon after
// JSON whitespace.
func isKey(rest []byte) bool {
	for _, c := range rest {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == ':'
	}
	return false
}
