package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcegraph"
	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/resourcemanager/armtest"
	"github.com/exportguard/exportguard/pkg/scan"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// ScanResult is what a scan of a generated estate did (issue 16's numbers).
type ScanResult struct {
	Resources        int           // resources in the estate
	Subscriptions    int           // subscriptions they are spread over
	Judged           int           // rows the pipeline judged
	GraphRequests    int           // Resource Graph requests, every table
	ResourcesQueries int           // of which to the Resources table
	ARMReads         int           // ARM reads answered
	SettingsReads    int           // of which each subscription's diagnostic settings
	Wall             time.Duration // the scan, from the first request to the last write
}

// RunScan scans n storage accounts (one in ten replicating out of the United
// States) spread over subs subscriptions, the guard's pkg/scan run as
// `exportguard scan` runs it (default policy, the embedded store in dir),
// against rgtest's local Resource Graph and ARM.
func RunScan(ctx context.Context, dir string, n, subs int, log *slog.Logger) (ScanResult, error) {
	srv := rgtest.New()
	defer srv.Close()
	var ids []string
	for s := range subs {
		ids = append(ids, fmt.Sprintf("5ca10000-0000-4000-8000-%012d", s))
	}
	for k := range n {
		id := fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-bench/providers/Microsoft.Storage/storageAccounts/st%06d", ids[k*subs/n], k)
		secondary, sku := "", "Standard_LRS"
		if k%10 == 0 {
			secondary, sku = "westeurope", "Standard_RAGRS"
		}
		body := armtest.StorageAccount(id, "eastus", sku, secondary)
		body["properties"].(map[string]any)["encryption"] = map[string]any{"keySource": "Microsoft.Keyvault",
			"keyvaultproperties": map[string]any{"keyname": "cmk", "keyvaulturi": "https://kv-bench.vault.azure.net/"}}
		srv.Put(body)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "scan.db"))
	if err != nil {
		return ScanResult{}, err
	}
	defer st.Close()
	reader, err := resourcemanager.New(rgtest.Credential(), srv.ClientOptions())
	if err != nil {
		return ScanResult{}, err
	}
	graph, err := resourcegraph.New(rgtest.Credential(), resourcegraph.Options{ARM: srv.ClientOptions(), Logger: log})
	if err != nil {
		return ScanResult{}, err
	}
	sc := &scan.Scanner{Pipeline: NewPipeline(st, reader, policyfile.Default(), log), Graph: graph, Log: log, Reads: reader.Budget().Reads}
	began := time.Now()
	rep, err := sc.Run(ctx, time.Now(), ids)
	wall := time.Since(began)
	if err != nil {
		return ScanResult{}, fmt.Errorf("scan: %w", err)
	}
	if errs := srv.Errors(); len(errs) > 0 {
		return ScanResult{}, fmt.Errorf("the local Resource Graph / ARM saw wrong requests: %q", errs)
	}
	return ScanResult{Resources: n, Subscriptions: subs, Judged: rep.Rows, GraphRequests: srv.GraphRequests(),
		ResourcesQueries: srv.GraphRequestsOf("resources"), ARMReads: srv.ARMReads(), SettingsReads: rep.Settings, Wall: wall}, nil
}
