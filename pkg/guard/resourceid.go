package guard

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Resource IDs are decided on whole segments, never on text (DESIGN 3.6,
// issue 14 case 5): "/subscriptions/A/resourceGroups/rg/../../../subscriptions/B"
// starts with subscription A as text, but names B once a URL is resolved. An ID
// that could be read two ways is refused where it enters (the decoders, the
// session reader) and again where it leaves (the ARM reader and writer, the
// remediation scope check), so that no rule, plan or write ever sees one.

// ErrBadResourceID is what CheckResourceID's errors match (errors.Is).
var ErrBadResourceID = errors.New("not a usable resource ID")

// ResourceIDError says why a resource ID was refused: a short fixed reason,
// never the ID itself (it may be huge, or hold control characters).
type ResourceIDError struct{ Reason string }

func (e *ResourceIDError) Error() string        { return "resource ID refused: " + e.Reason }
func (e *ResourceIDError) Is(target error) bool { return target == ErrBadResourceID }

// CheckResourceID refuses a resource ID that is not plainly an ARM ID, with the
// reason:
//   - "empty"; "no leading slash" (every ARM ID, subscription-, tenant- or
//     management-group-level, starts with "/");
//   - "empty segment" ("//", or only spaces), "trailing slash" (ARM never
//     sends one, and "…/x/" and "…/x" would be two spellings of one
//     resource), "dot segment" ("." or "..", or any segment of only dots and
//     spaces, which some servers trim to one), which a URL resolver would
//     fold into another path;
//   - "backslash", which some servers read as "/";
//   - "percent-escape" (any "%"): ARM IDs are sent unescaped, and an escape
//     would be decoded to "/" or ".." after the check;
//   - "query or fragment character" ("?" or "#"), which end a URL path; ARM
//     names cannot hold them ("don't use # in resource names: it interferes
//     with ARM's URL parsing", https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules);
//   - "control character" (C0, DEL, C1) and "not UTF-8".
//
// The ID is checked as given: callers trim surrounding space first if they
// accept it. It does not require "/subscriptions/": role assignments at a
// management group ("/providers/Microsoft.Management/managementGroups/mg/
// providers/Microsoft.Authorization/roleAssignments/x") and PIM schedules
// ("/providers/Microsoft.Subscription/subscriptions/s/providers/…") are real
// IDs. Whoever writes needs a subscription, and checks for one itself.
func CheckResourceID(id string) error {
	reason := func() string {
		switch {
		case id == "":
			return "empty"
		case id[0] != '/':
			return "no leading slash"
		case !utf8.ValidString(id):
			return "not UTF-8"
		}
		for _, r := range id {
			switch {
			case r == '\\':
				return "backslash"
			case r == '%':
				return "percent-escape"
			case r == '?' || r == '#':
				return "query or fragment character"
			case unicode.IsControl(r):
				return "control character"
			}
		}
		segs := strings.Split(id[1:], "/")
		for i, s := range segs {
			t := strings.TrimSpace(s)
			switch {
			case s == "" && i == len(segs)-1 && i > 0:
				return "trailing slash"
			case t == "":
				return "empty segment"
			case strings.Trim(t, ".") == "":
				return "dot segment"
			}
		}
		return ""
	}()
	if reason != "" {
		return &ResourceIDError{Reason: reason}
	}
	return nil
}
