package fastjson

import "unicode/utf8"

// Unquote is Unmarshal into a string, returned as bytes: the text of the JSON
// string literal b, or Unmarshal's error. The host hands an Event Hubs batch to
// the handler as a string literal holding another (research note §2.5), half a
// megabyte of escapes for a batch of 100 records, and reading it through a
// decoder cost more than everything else the handler does with it. The usual
// literal (valid UTF-8, no control character, no \u escape) is unescaped here
// in one pass; any other goes to Unmarshal, so that the answer is always
// encoding/json's (FuzzUnquoteMatchesStdlib).
func Unquote(b []byte) ([]byte, error) {
	if out, ok := unquoteSimple(b); ok {
		return out, nil
	}
	var s string
	if err := Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// escaped maps the byte after a backslash to what it stands for, for the
// escapes unquoteSimple takes; 0 for any other.
var escaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unquoteSimple unescapes b when it is one JSON string literal, with JSON
// whitespace around it at most, whose content is valid UTF-8 without control
// characters or \u escapes. ok is false for anything else, which it leaves to
// encoding/json to judge.
func unquoteSimple(b []byte) (out []byte, ok bool) {
	b = trimSpace(b)
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	body := b[1 : len(b)-1]
	if !utf8.Valid(body) {
		return nil, false // encoding/json writes U+FFFD for each bad byte
	}
	out = make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == '\\':
			if i+1 == len(body) {
				return nil, false // the closing quote is escaped: not one literal
			}
			r := escaped[body[i+1]]
			if r == 0 {
				return nil, false // \u, or not an escape at all
			}
			out = append(out, r)
			i += 2
		case c == '"' || c < 0x20:
			return nil, false // a quote inside ends the literal early; a control character is refused
		default:
			j := i + 1
			for j < len(body) && body[j] != '\\' && body[j] != '"' && body[j] >= 0x20 {
				j++
			}
			out = append(out, body[i:j]...)
			i = j
		}
	}
	return out, true
}

// trimSpace trims what JSON counts as whitespace, and nothing else.
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
