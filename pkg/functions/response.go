package functions

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// writeJSON answers with v as JSON. The content type is set explicitly: the host
// reads invocation answers with a JSON formatter and fails on anything else, and
// net/http would sniff a JSON body as text/plain (research note §0.2).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"could not encode the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with {"error": msg}. msg is fixed text of this package, never
// a body, a store URL or a wrapped error from elsewhere.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func methodNotAllowed(w http.ResponseWriter, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+strings.Join(allow, " or "))
}
