// Package fastjson is the fast JSON path (issue 8): Unmarshal is json.Unmarshal,
// giving encoding/json's answer for every input, but faster on the usual one.
//
// encoding/json was most of the time spent reading an Activity Log envelope, an
// Event Grid delivery, a Functions invocation and an ARM body: it checks the
// whole input before it decodes it, and then decodes by reflection.
// github.com/segmentio/encoding/json decodes in one pass, several times faster,
// and its error types are aliases of encoding/json's. It is not a drop-in
// replacement for untrusted input, though. What we found, and what Unmarshal
// does about it:
//
//   - segmentio has no nesting limit and recurses once per level: a 4 MB body of
//     "[" overflows the goroutine stack, a fatal error that recover cannot catch,
//     where encoding/json refuses more than 10000 levels. Safe lets no deeper
//     input reach it.
//   - On a type error segmentio stops reading the object, where encoding/json
//     skips the field and reads the rest (the Activity Log and Event Grid readers
//     rely on that), and its error messages are worded differently. Whatever
//     segmentio refuses is therefore read again by encoding/json, from a zero
//     value: errors (text and type) and partial values are encoding/json's.
//   - segmentio folds a non-ASCII object key differently when it matches it to a
//     struct field: encoding/json takes "ſtatus" (long s, or "\u017ftatus") for
//     "status", segmentio (v0.5.4) does not, and reads such a field as absent.
//     (Both take the Kelvin sign, "\u212a", for "k".) Safe sends input with a
//     key that has a byte outside ASCII or an escape to encoding/json, whatever
//     letter it holds. Non-ASCII and invalid UTF-8 in values read the same in
//     both (U+FFFD for invalid bytes).
//
// FuzzUnmarshalMatchesStdlib checks that Unmarshal and encoding/json agree on
// representative shapes (and fastjsontest.SameAsStdlib is the check the packages
// that use Unmarshal run on their own wire structs), and that segmentio, wherever
// Safe lets it answer, accepts nothing encoding/json refuses or reads
// differently.
package fastjson

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/segmentio/asm/ascii"
	segjson "github.com/segmentio/encoding/json"
)

// maxNesting is encoding/json's nesting limit: input nested deeper is an error there.
const maxNesting = 10000

// Unmarshal is json.Unmarshal, faster where it can be: the same error (message and
// type) and the same value for every input. v must point to a zero value.
func Unmarshal[T any](b []byte, v *T) error {
	if Safe(b) {
		if segjson.Unmarshal(b, v) == nil {
			return nil
		}
		var zero T
		*v = zero
	}
	return json.Unmarshal(b, v)
}

// Safe reports whether b may go to segmentio's decoder: nested no deeper than
// encoding/json allows, and with no object key that is not plain ASCII. The
// usual input (ASCII, no escapes, fewer brackets than the limit) is told by three
// quick passes; any other is scanned.
func Safe(b []byte) bool {
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
			end := StringEnd(b, i)
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

// StringEnd returns the index of the quote that closes the JSON string opening
// at b[open], or len(b) if none does: the first quote after it that is not
// escaped, that is, not after an odd run of backslashes.
func StringEnd(b []byte, open int) int {
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
