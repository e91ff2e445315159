package functions

import "github.com/exportguard/exportguard/internal/fastjson"

// unmarshal is fastjson.Unmarshal, the fast JSON path (issue 8): json.Unmarshal's
// answer (value, partial value, error text and type) for every input, faster
// where it can be. v must point to a zero value. See internal/fastjson for why
// segmentio's decoder is not used directly.
func unmarshal[T any](b []byte, v *T) error { return fastjson.Unmarshal(b, v) }
