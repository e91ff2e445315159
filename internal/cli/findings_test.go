package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// recDecodeFindings reads replay's --format json lines, sorted as replay sorts
// them.
func recDecodeFindings(t *testing.T, out string) []map[string]any {
	t.Helper()
	var fs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("finding line %q: %v", sc.Text(), err)
		}
		fs = append(fs, m)
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := guard.IDKey(fs[i]["resourceId"].(string)), guard.IDKey(fs[j]["resourceId"].(string))
		if a != b {
			return a < b
		}
		return fs[i]["rule"].(string) < fs[j]["rule"].(string)
	})
	return fs
}

// recVerdicts says each finding in one line: rule, resource, status.
func recVerdicts(fs []map[string]any) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f["rule"], f["resourceId"], f["status"]))
	}
	return out
}
