package guard

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// iso8601 matches the ISO 8601 durations policies use: PnD, PTnHnMnS and mixes.
var iso8601 = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseDuration reads a duration written as Go writes it ("3h", "90m") or as ISO
// 8601 ("PT3H", "P1DT2H"), the two forms Azure users meet.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if !strings.HasPrefix(strings.ToUpper(s), "P") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want Go form (3h, 90m) or ISO 8601 (PT3H)", s)
		}
		return d, nil
	}
	m := iso8601.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("duration %q: not an ISO 8601 duration like PT3H", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		f, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || f > 1e6 {
			return 0, fmt.Errorf("duration %q: number out of range", s)
		}
		d += time.Duration(f * float64(unit))
	}
	return d, nil
}

// UnmarshalJSON reads a duration string in either form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like 3h or PT3H")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the Go form.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
