package guard

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
)

// Identity is who made an ARM call, as Azure writes it beside the operation:
// an Activity Log record's "identity" object, and the top of a
// Microsoft.Resources event's data (research note §1.3, §2.2). Both adapters
// decode it with this one type, so that a caller reads the same from either.
// Every part of it is optional.
type Identity struct {
	Authorization Authorization              `json:"authorization"`
	Claims        map[string]json.RawMessage `json:"claims"`
}

// Authorization is the RBAC part of an Identity: the action checked and the
// principal the check was for.
type Authorization struct {
	Action   json.RawMessage `json:"action"`
	Evidence struct {
		PrincipalID json.RawMessage `json:"principalId"`
	} `json:"evidence"`
}

// Caller is who made the call: CallerFromClaims of the JWT claims, else the
// principal the authorization evidence names; "" when neither says.
func (id Identity) Caller() string {
	claims := make(map[string]string, len(id.Claims))
	for k, v := range id.Claims {
		claims[k] = ClaimText(v)
	}
	if c := CallerFromClaims(claims); c != "" {
		return c
	}
	p, _ := fastjson.String(id.Authorization.Evidence.PrincipalID)
	return strings.TrimSpace(p)
}

// ClaimText reads a claim value as text. Claims are strings in every example,
// but nothing guarantees it; numbers, booleans, arrays and objects keep their
// JSON text.
func ClaimText(raw json.RawMessage) string {
	if s, ok := fastjson.String(raw); ok {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
