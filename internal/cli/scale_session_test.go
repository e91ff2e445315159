package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storageSessionTemplate is the session the generated ones are made from: its
// first arm line (an account's state) and its first eventhub line (a Start and
// a Success write record of that account).
const storageSessionTemplate = "testdata/sessions/storage-replication.ndjson"

// writeStorageSession writes a session of n storage accounts of their own
// (named for session s), each an arm line and an eventhub line with a Start and
// a Success write record, in the shape of storage-replication.ndjson, half a
// minute apart, with a clock line before the first and after the last. Account
// k is in West Europe with RA-GRS (residency findings) when k%3 is 0, in East
// US with GRS otherwise; its keys are Microsoft-managed (encryption.cmk) but
// when k%3 is 2 (a customer-managed key: no finding at all). It returns the
// session's path.
func writeStorageSession(t *testing.T, dir string, s, n int) string {
	t.Helper()
	raw, err := os.ReadFile(storageSessionTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var armTmpl, ehTmpl map[string]any
	for _, l := range strings.Split(string(raw), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		switch {
		case m["source"] == "arm" && armTmpl == nil:
			armTmpl = m
		case m["source"] == "eventhub" && ehTmpl == nil:
			ehTmpl = m
		}
	}
	if armTmpl == nil || ehTmpl == nil {
		t.Fatalf("%s: no arm or eventhub line to copy", storageSessionTemplate)
	}
	armJSON, _ := json.Marshal(armTmpl)
	ehJSON, _ := json.Marshal(ehTmpl)
	const (
		oldID   = "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-itar-eng/providers/Microsoft.Storage/storageAccounts/itardrawings"
		oldCorr = "e0c7a6b1-3d2f-4e8a-9b1c-7f6e5d4c3b21"
	)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Add(time.Duration(s) * 7 * time.Second)
	var out []string
	clock := func(at time.Time) string { return `{"source":"clock","at":"` + at.Format(time.RFC3339) + `"}` }
	out = append(out, clock(base.Truncate(time.Minute)))
	for k := range n {
		name := fmt.Sprintf("scale%02dacct%04d", s, k)
		id := strings.Replace(oldID, "rg-itar-eng", fmt.Sprintf("rg-scale-%02d", s), 1)
		id = strings.Replace(id, "itardrawings", name, 1)
		at := base.Add(time.Duration(k) * 30 * time.Second)
		violating := k%3 == 0

		var arm map[string]any
		json.Unmarshal(armJSON, &arm)
		arm["observedAt"] = at.Format(time.RFC3339)
		body := arm["body"].(map[string]any)
		body["id"], body["name"] = id, name
		props := body["properties"].(map[string]any)
		if violating {
			body["location"] = "westeurope"
			body["sku"] = map[string]any{"name": "Standard_RAGRS", "tier": "Standard"}
			props["primaryLocation"], props["secondaryLocation"] = "westeurope", "northeurope"
		}
		if k%3 == 2 {
			enc := props["encryption"].(map[string]any)
			enc["keySource"] = "Microsoft.Keyvault"
			enc["keyvaultproperties"] = map[string]any{"keyname": name, "keyvaulturi": "https://kv-scale.vault.azure.net", "keyversion": ""}
		}
		line, err := json.Marshal(arm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.ReplaceAll(string(line), "itardrawings", name))

		var eh map[string]any
		json.Unmarshal(ehJSON, &eh)
		eh["enqueuedTime"] = at.Add(5 * time.Second).Format("2006-01-02T15:04:05.000Z")
		h := sha256.Sum256([]byte(name))
		x := hex.EncodeToString(h[:16])
		corr := x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
		recs := eh["body"].(map[string]any)["records"].([]any)[:2]
		for i, r := range recs {
			r.(map[string]any)["time"] = at.Add(time.Duration(1+2*i) * time.Second).Format("2006-01-02T15:04:05.0000000Z")
		}
		line, err = json.Marshal(eh)
		if err != nil {
			t.Fatal(err)
		}
		l := strings.ReplaceAll(string(line), oldID, id)
		l = strings.ReplaceAll(l, oldCorr, corr)
		out = append(out, strings.ReplaceAll(l, "itardrawings", name))
	}
	out = append(out, clock(base.Add(time.Duration(n)*30*time.Second).Truncate(time.Minute).Add(5*time.Minute)))
	p := filepath.Join(dir, fmt.Sprintf("scale-%02d.ndjson", s))
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
