package customrule

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// decodeJSON reads a JSON document as encoding/json reads it into an any:
// objects as map[string]any, arrays as []any, numbers as float64, strings,
// bools and nil; a later duplicate key wins; input that encoding/json refuses
// (bad syntax, a number out of float64's range, nesting deeper than 10000) is
// an error. It exists because reading each judged resource's body was half of
// what the custom rules cost (`make bench`), nearly all of it encoding/json's
// reflection and its validating pass before decoding; this reads in one pass.
// FuzzDecodeMatchesStdlib holds it to encoding/json's answer; string literals
// with escapes or anything unusual go through fastjson.Unquote, which gives
// encoding/json's reading of them.
func decodeJSON(b []byte) (any, error) { return decodeWithKeys(b, nil) }

// decodeWithKeys is decodeJSON taking object keys from keys where it holds
// them, and adding the new ones until it holds maxKeys: ARM bodies of one type
// share their keys, and a shared key is not allocated again for each body.
// keys is the caller's, not safe for concurrent use.
func decodeWithKeys(b []byte, keys map[string]string) (any, error) {
	return decodePaths(b, keys, nil)
}

// decodePaths is decodeWithKeys building only the parts of the document that
// want names (nil: all of it): an object on a wanted path keeps only the
// wanted keys (matched exactly, as encoding/json keeps them; a later
// duplicate wins), and what is below a path's end is built whole, as is any
// value on a path that is not an object. The values of the other keys are
// checked as encoding/json checks them, without being built, so that the same
// documents are refused. FuzzDecodePathsMatchesPruned holds it to encoding/json's
// answer pruned to the paths (pruned).
func decodePaths(b []byte, keys map[string]string, want paths) (any, error) {
	d := decoder{b: b, keys: keys}
	v, err := d.value(0, want)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, errSyntax
	}
	return v, nil
}

var errSyntax = errors.New("customrule: not JSON")

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// maxKeys bounds a key table.
const maxKeys = 2048

type decoder struct {
	b    []byte
	i    int
	keys map[string]string
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int, want paths) (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, errSyntax
		}
		return d.object(depth+1, want)
	case c == '[':
		if depth >= maxDepth {
			return nil, errSyntax
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, errSyntax
}

func (d *decoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return errSyntax
	}
	d.i += len(word)
	return nil
}

func (d *decoder) object(depth int, want paths) (any, error) {
	d.i++ // {
	m := map[string]any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for range len(d.b) { // each round reads a member: bounded by the input's length
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errSyntax
		}
		k, sub, wanted, err := d.wantedKey(want)
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		if wanted {
			v, err := d.value(depth, sub)
			if err != nil {
				return nil, err
			}
			m[k] = v
		} else if err := d.skip(depth); err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, errSyntax
		}
	}
	return nil, errSyntax
}

func (d *decoder) array(depth int) (any, error) {
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, nil
	}
	for range len(d.b) { // each round reads an element: bounded by the input's length
		v, err := d.value(depth, nil)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, nil
		default:
			return nil, errSyntax
		}
	}
	return nil, errSyntax
}

// wantedKey reads an object key and says whether want names it (any key
// when want is nil), with what want names below it. A plain key that want
// does not name is passed over without allocating.
func (d *decoder) wantedKey(want paths) (k string, sub paths, wanted bool, err error) {
	if want == nil {
		k, err = d.key()
		return k, nil, true, err
	}
	for j := d.i + 1; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			if _, ok := want[string(d.b[d.i+1:j])]; !ok { // plain ASCII: the key as written
				d.i = j + 1
				return "", nil, false, nil
			}
			break
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break // not plain: read as encoding/json reads it
		}
	}
	if k, err = d.key(); err != nil {
		return "", nil, false, err
	}
	sub, wanted = want[k]
	return k, sub, wanted, nil
}

// key reads an object key: a plain one from the key table if it is there.
func (d *decoder) key() (string, error) {
	if d.keys != nil {
		if end := bytes.IndexByte(d.b[d.i+1:], '"'); end >= 0 {
			if k, ok := d.keys[string(d.b[d.i+1:d.i+1+end])]; ok { // a key held is plain: no escape, valid
				d.i += end + 2
				return k, nil
			}
		}
	}
	start := d.i
	k, err := d.str()
	if err == nil && d.keys != nil && len(d.keys) < maxKeys && d.i-start-2 == len(k) && string(d.b[start+1:d.i-1]) == k {
		d.keys[k] = k
	}
	return k, err
}

// str reads a string literal: one without escapes, control characters or
// invalid UTF-8 as it is, any other through fastjson.Unquote.
func (d *decoder) str() (string, error) {
	start := d.i
	plain := true
	for j := start + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			lit := d.b[start:d.i]
			if inner := lit[1 : len(lit)-1]; plain && utf8.Valid(inner) {
				return string(inner), nil
			}
			s, err := fastjson.Unquote(lit)
			if err != nil {
				return "", errSyntax
			}
			return string(s), nil
		case c == '\\':
			plain = false
			j++ // the escaped byte
		case c < 0x20:
			plain = false
		}
	}
	return "", errSyntax
}

// number reads a number as encoding/json's grammar has it and converts it as
// encoding/json does (strconv.ParseFloat; out of range is an error).
func (d *decoder) number() (any, error) {
	start := d.i
	if err := d.numberText(); err != nil {
		return nil, err
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return nil, errSyntax
	}
	return f, nil
}

// numberText passes over a number as encoding/json's grammar has it.
func (d *decoder) numberText() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return errSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}
