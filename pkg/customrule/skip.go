package customrule

import "strconv"

// skip passes over a value no expression reads, refusing what value (and so
// encoding/json) refuses, nesting included, without building anything.
func (d *decoder) skip(depth int) error {
	d.space()
	if d.i >= len(d.b) {
		return errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return errSyntax
		}
		return d.skipContainer(depth+1, c)
	case c == '"':
		return d.skipString()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.skipNumber()
	}
	return errSyntax
}

// skipContainer passes over an object (open '{') or an array ('[').
func (d *decoder) skipContainer(depth int, open byte) error {
	d.i++
	end := byte(']')
	if open == '{' {
		end = '}'
	}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == end {
		d.i++
		return nil
	}
	for range len(d.b) { // each round passes a member or element: bounded by the input's length
		if open == '{' {
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return errSyntax
			}
			if err := d.skipString(); err != nil {
				return err
			}
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return errSyntax
			}
			d.i++
		}
		if err := d.skip(depth); err != nil {
			return err
		}
		d.space()
		if d.i >= len(d.b) {
			return errSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case end:
			d.i++
			return nil
		default:
			return errSyntax
		}
	}
	return errSyntax
}

// skipString passes over a string literal as encoding/json's scanner checks
// it: no control character, and each escape one of \" \\ \/ \b \f \n \r \t or
// \u and four hex digits. Invalid UTF-8 is not an error (encoding/json writes
// U+FFFD for it).
func (d *decoder) skipString() error {
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			return nil
		case c == '\\':
			j++
			if j >= len(d.b) {
				return errSyntax
			}
			switch d.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d.b)-j <= 4 {
					return errSyntax
				}
				for _, h := range d.b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return errSyntax
					}
				}
				j += 4
			default:
				return errSyntax
			}
		case c < 0x20:
			return errSyntax
		}
	}
	return errSyntax
}

// maxPlainNumber is the longest number without an exponent that is always in
// float64's range (its largest finite value has 309 integer digits).
const maxPlainNumber = 300

// skipNumber passes over a number, refusing one out of float64's range as
// number does; only one with an exponent, or very long, can be, and only
// those are converted.
func (d *decoder) skipNumber() error {
	start := d.i
	if err := d.numberText(); err != nil {
		return err
	}
	text := d.b[start:d.i]
	if len(text) <= maxPlainNumber && !hasExponent(text) {
		return nil
	}
	if _, err := strconv.ParseFloat(string(text), 64); err != nil {
		return errSyntax
	}
	return nil
}

func hasExponent(num []byte) bool {
	for _, c := range num {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}
