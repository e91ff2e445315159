package fastjson

// String reads a JSON value that should be a string, as the decoders read
// their fields: absent (empty) and null read as "" and ok; a string reads as
// encoding/json reads it; any other kind of value, or input that is not JSON,
// is not ok. A literal that needs no decoding (printable ASCII, no escapes),
// as nearly every field of a record and an event is, takes no trip through a
// decoder.
func String(raw []byte) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	if s, ok := plainString(raw); ok {
		return s, true
	}
	var s string
	if err := Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainString reads a JSON string literal that needs no decoding; ok is false
// for anything else.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(in), true
}
