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
	d := decoder{b: b, keys: keys}
	v, err := d.value(0)
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

func (d *decoder) value(depth int) (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, errSyntax
		}
		return d.object(depth + 1)
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

func (d *decoder) object(depth int) (any, error) {
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
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
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
		v, err := d.value(depth)
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
		return nil, errSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return nil, errSyntax
	}
	return f, nil
}
