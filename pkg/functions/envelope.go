package functions

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// invocation is the body the host POSTs for a non-forwarded invocation. Data has one
// entry per input binding, keyed by the binding name in function.json; Metadata has
// the trigger's binding data (research note §2.1).
type invocation struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

// invocationEnvelope is the invocation as decodeInvocation reads it: Data in the
// same pass (a Data that is not an object or null fails it), Metadata raw.
type invocationEnvelope struct {
	Data     map[string]json.RawMessage
	Metadata json.RawMessage
}

// errMalformed is a request body that is not an invocation envelope.
var errMalformed = errors.New("the request body is not a JSON invocation envelope")

// decodeInvocation decodes the envelope. Only the outer shape is checked here: the
// body must be a JSON object, and Data, when present, an object. A Metadata that is
// not an object is dropped, since nothing the pipeline needs comes from it.
func decodeInvocation(body []byte) (invocation, error) {
	var env invocationEnvelope
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' {
		return invocation{}, errMalformed
	}
	if err := fastjson.Unmarshal(t, &env); err != nil {
		return invocation{}, errMalformed
	}
	inv := invocation{Data: env.Data}
	if m := bytes.TrimSpace(env.Metadata); len(m) > 0 && m[0] == '{' {
		_ = json.Unmarshal(m, &inv.Metadata) // best effort: Metadata is only logged
	}
	return inv, nil
}

// data returns Data[name], matching the name exactly first and then ignoring case
// (the host serializes with Newtonsoft, which matches names case-insensitively). A
// JSON null counts as absent: the host skips null values.
func (inv invocation) data(name string) (json.RawMessage, bool) {
	return lookup(inv.Data, name)
}

func lookup(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	v, ok := m[name]
	if !ok {
		for k, kv := range m {
			if strings.EqualFold(k, name) {
				v, ok = kv, true
				break
			}
		}
	}
	v = bytes.TrimSpace(v)
	if !ok || len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil, false
	}
	return v, true
}

// maxUnwrap bounds how many layers of JSON string encoding are peeled off a value.
// The host encodes a string trigger value once (Event Hubs string[]) or twice (a
// single string); one more layer is tolerated for an admin invoke of an already
// encoded payload. The bound keeps a hostile value from costing more than a few
// passes over the body.
const maxUnwrap = 3

// unquote peels at most max layers of JSON string encoding off v: while v is a JSON
// string literal, it is replaced by the text the literal holds. A value that is not
// a string literal (an object, an array, a number, text that is not JSON) is
// returned as it is.
func unquote(v []byte, max int) []byte {
	for range max {
		t := bytes.TrimSpace(v)
		if len(t) == 0 || t[0] != '"' {
			break
		}
		s, err := fastjson.Unquote(t)
		if err != nil {
			break
		}
		v = s
	}
	return v
}

// oversized is a message body over MaxMessageBytes, left as the host sent it.
type oversized struct {
	index int    // its place in the batch, from 0
	size  int    // its length decoded
	raw   []byte // the array element, still escaped
}

// messageBodies turns Data.events of an Event Hubs trigger with cardinality many and
// dataType string into the message bodies, each exactly as it was published. On the
// wire that value is a JSON string holding a JSON array of strings (§2.5), possibly
// encoded once more; an array sent directly, elements that are objects (the host's
// form for dataType omitted) and elements that are themselves encoded strings are
// accepted too.
//
// A message body that is longer than MaxMessageBytes once decoded is not decoded
// at all: it is measured where it lies (literalLen) and returned in over, still
// escaped, for the caller to keep as poison; bodies holds the others, in order.
//
// When the value does not hold a JSON array, messageBodies returns an error together
// with the value's text, unquoted as far as it goes, for the caller to hand on whole.
func messageBodies(raw json.RawMessage) (bodies [][]byte, over []oversized, whole []byte, err error) {
	text := unquote(raw, maxUnwrap)
	t := bytes.TrimSpace(text)
	if len(t) == 0 || t[0] != '[' {
		return nil, nil, text, errors.New("the invocation's Data.events does not hold a JSON array")
	}
	var elems []json.RawMessage
	if err := fastjson.Unmarshal(t, &elems); err != nil {
		return nil, nil, text, errors.New("the invocation's Data.events holds an array that is not valid JSON")
	}
	bodies = make([][]byte, 0, len(elems))
	for i, e := range elems {
		if n := literalLen(e); n > MaxMessageBytes {
			over = append(over, oversized{index: i, size: n, raw: e})
			continue
		}
		// A string element is a message body as text (one layer, or two when
		// encoded again); an object or array element is the body itself.
		// Anything else (null, a number) goes on as it is, for the pipeline's
		// decoder to reject and keep.
		bodies = append(bodies, unquote(e, maxUnwrap))
	}
	return bodies, over, nil, nil
}

// literalLen is the length of what v stands for, counted without decoding it:
// for a JSON string literal, the length of its text as encoding/json decodes it
// (an escape is what it stands for, a byte that is not UTF-8 and a lone
// surrogate escape become U+FFFD); for anything else, len(v). A message body
// the host sent encoded twice is measured at its first layer, which is never
// shorter than the body.
func literalLen(v []byte) int {
	t := bytes.TrimSpace(v)
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return len(t)
	}
	s := t[1 : len(t)-1]
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return len(t) // not a literal encoding/json reads; unquote leaves it as it is
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s[min(i+2, len(s)):]); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' &&
					utf16.DecodeRune(r, r2) != utf8.RuneError {
					n += 4
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			n += utf8.RuneLen(r)
		case c == '\\':
			n++
			i += 2
		case c < utf8.RuneSelf:
			n++
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				n += 3 // U+FFFD
			} else {
				n += size
			}
			i += size
		}
	}
	return n
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// eventJSON turns Data.event of an Event Grid trigger into the event as JSON. The
// host sends the event as an object (§2.6); an admin invoke or a replay may send it
// as a JSON string holding it, and a batch may be an array. ok is false when what
// remains is not a JSON object or array; the text is returned all the same.
func eventJSON(raw json.RawMessage) (event []byte, ok bool) {
	t := bytes.TrimSpace(unquote(raw, maxUnwrap))
	ok = len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
	return t, ok
}

// timerInfo is the part of the TimerInfo object (§2.4) the handler looks at.
type timerInfo struct {
	IsPastDue bool
}

// parseTimer reads Data.timer, best effort: nothing the sweep does depends on it.
func parseTimer(raw json.RawMessage) timerInfo {
	var ti timerInfo
	_ = json.Unmarshal(unquote(raw, maxUnwrap), &ti)
	return ti
}

// invocationMeta is what the handler logs from Metadata: where an Event Hubs batch
// came from, and which attempt this is when a retry policy applies.
type invocationMeta struct {
	partition  string
	retryCount int
	retries    bool
}

func (inv invocation) meta() invocationMeta {
	var m invocationMeta
	if raw, ok := lookup(inv.Metadata, "PartitionContext"); ok {
		var pc struct{ PartitionId string }
		if json.Unmarshal(unquote(raw, maxUnwrap), &pc) == nil {
			m.partition = pc.PartitionId
		}
	}
	if raw, ok := lookup(inv.Metadata, "RetryContext"); ok {
		var rc struct{ RetryCount int }
		if json.Unmarshal(unquote(raw, maxUnwrap), &rc) == nil {
			m.retryCount, m.retries = rc.RetryCount, true
		}
	}
	return m
}
