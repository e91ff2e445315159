package workload

import (
	"strconv"
	"time"
)

// w appends JSON to a byte slice. The generator writes records by hand rather
// than through encoding/json so that producing a million of them costs little
// next to what is measured; every string it writes is plain ASCII, and
// appendString escapes what JSON requires all the same.
type w []byte

func (b w) str(s string) w {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// key writes "k": (with a leading comma unless first).
func (b w) key(k string, first bool) w {
	if !first {
		b = append(b, ',')
	}
	b = b.str(k)
	return append(b, ':')
}

func (b w) kv(k, v string, first bool) w { return b.key(k, first).str(v) }

func (b w) kint(k string, v int64, first bool) w {
	return strconv.AppendInt(b.key(k, first), v, 10)
}

func (b w) raw(s string) w { return append(b, s...) }

// rfc3339 writes a time as Azure writes it: seven fractional digits, Z.
func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
