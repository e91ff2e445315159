package notify

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Bounds on the evidence sentence, so that a card stays readable and small.
const (
	maxFacts     = 8
	maxFactValue = 80
	maxListItems = 4
)

// structural evidence keys the pipeline and the remediation engine add; the
// next step tells of them.
var structural = map[string]bool{guard.EvidenceExemption: true, guard.EvidenceExemptionExpired: true,
	guard.EvidenceResolution: true, guard.EvidenceRemediation: true}

// EvidenceSentence turns a finding's evidence into one line a person reads:
// "key value; key value", keys in order, resource IDs shortened to their name,
// lists cut to a few items, nested objects left out (the webhook's CloudEvent
// carries them all). For a resolved finding it tells the facts of the fix.
func EvidenceSentence(ev map[string]any, resolved bool) string {
	if resolved {
		if res, ok := guard.ResolutionOf(ev); ok && len(res.Facts) > 0 {
			return "After the fix: " + factList(res.Facts)
		}
	}
	s := factList(ev)
	if s == "" {
		return ""
	}
	return "Facts: " + s
}

func factList(ev map[string]any) string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		if !structural[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	skipped := 0
	for _, k := range keys {
		v, ok := factValue(ev[k])
		if !ok {
			continue
		}
		if len(parts) == maxFacts {
			skipped++
			continue
		}
		parts = append(parts, k+" "+v)
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, "; ")
	if skipped > 0 {
		s += fmt.Sprintf("; and %d more", skipped)
	}
	return s + "."
}

// factValue renders a scalar or a list of scalars; objects are left out.
func factValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		if strings.TrimSpace(x) == "" {
			return `""`, true
		}
		return shorten(x), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case []any:
		var items []string
		for i, it := range x {
			if i == maxListItems {
				items = append(items, fmt.Sprintf("and %d more", len(x)-maxListItems))
				break
			}
			s, ok := factValue(it)
			if !ok {
				return "", false
			}
			items = append(items, s)
		}
		if len(items) == 0 {
			return "none", true
		}
		return strings.Join(items, ", "), true
	case []string:
		anys := make([]any, len(x))
		for i, s := range x {
			anys[i] = s
		}
		return factValue(anys)
	}
	return "", false
}

// shorten turns an ARM resource ID into its last name and cuts long text.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.HasPrefix(strings.ToLower(s), "/subscriptions/") {
		s = lastSegment(s)
	}
	return truncate(s, maxFactValue)
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
