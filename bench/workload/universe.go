// Package workload generates the benchmark's input: Activity Log records (as
// Event Hubs message bodies in the diagnostic-settings {"records":[...]} schema)
// and Event Grid resource events (Event Grid and CloudEvents 1.0 schemas), about a
// fixed universe of resources whose ARM bodies are known. It is seeded and
// deterministic, and it streams: records are made as they are asked for, so that
// a run of a million records holds only the batch in hand, the universe and a
// small ring of recent messages (for redeliveries).
//
// The shapes follow testdata/sessions/*.ndjson (recorded and spec-derived
// payloads): records carry the identity block with authorization and JWT claims,
// success records their properties block; events carry the Microsoft.Resources
// data object with claims and httpRequest. The mix is an estate's, not a demo's:
// most operations are on resources that only residency.location judges (VMs,
// NICs, NSGs, deployments), a third are on storage accounts (writes, listKeys,
// container writes) and disks, about half the records are Start records of
// operations, a few operations fail, and a small share of resources violate a
// rule. See Mix for the numbers.
package workload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
)

// Start is the first operation's time; ARM bodies are observed a day earlier.
var Start = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// Mix is the share of resources and of operations by kind, and the share of
// resources in each non-compliant state. The numbers are estimates of a
// regulated estate (most data in the allowed regions, CMK mostly enforced), not
// measurements of one; the point is a realistic proportion of verdicts that are
// violations (a few percent), not zero and not most.
var Mix = struct {
	OutsideRegion   float64 // resource in a region outside the United States
	StorageNoCMK    float64 // storage keySource Microsoft.Storage
	StorageTLS10    float64 // minimumTlsVersion TLS1_0
	StorageTLS11    float64 // minimumTlsVersion TLS1_1
	StorageTLSAbs   float64 // minimumTlsVersion absent (TLS 1.0 by default)
	StorageHTTP     float64 // supportsHttpsTrafficOnly false
	DiskPlatformKey float64 // disk encrypted with platform-managed keys
	Flipped         float64 // storage accounts and disks whose state changes during the run
	Failed          float64 // operations that fail
	EventGridSubs   int     // of Subscriptions, how many also have an Event Grid system topic
	Subscriptions   int
	RedeliverEH     float64 // Event Hubs messages delivered again (at-least-once)
	RedeliverEG     float64 // Event Grid events delivered again
}{
	OutsideRegion: 0.03, StorageNoCMK: 0.12, StorageTLS10: 0.05, StorageTLS11: 0.03, StorageTLSAbs: 0.04,
	StorageHTTP: 0.02, DiskPlatformKey: 0.15, Flipped: 0.12, Failed: 0.03,
	EventGridSubs: 2, Subscriptions: 6, RedeliverEH: 0.03, RedeliverEG: 0.02,
}

var usRegions = []string{"eastus", "eastus2", "westus2", "centralus", "southcentralus", "westus3", "northcentralus", "westus"}
var outsideRegions = []string{"westeurope", "northeurope", "uksouth", "germanywestcentral", "japaneast", "canadacentral", "australiaeast"}

// Resource is one resource of the universe.
type Resource struct {
	ID, Type, Name string
	Sub, RG        string
	Kind           *Kind
	Versions       []Version // oldest first
}

// Version is the resource's ARM body from At on.
type Version struct {
	At   time.Time
	Body []byte
}

// state is what a body is built from.
type state struct {
	location  string
	sku       string // storage
	keySource string // storage
	tls       string // storage, "" absent
	httpOnly  bool   // storage: supportsHttpsTrafficOnly false
	diskEnc   string // disk encryption type
	tagRev    int
}

// Kind is a resource type with its share of the universe and of operations.
type Kind struct {
	Type          string
	ResourceShare float64
	OpShare       float64
	prefix        string
	ops           []opChoice
	body          func(r *Resource, s state) map[string]any // nil: ARM has no body for it (404)
}

type opChoice struct {
	suffix string  // appended to the type: "/write", "/listKeys/action"
	share  float64 // of this kind's operations
	child  string  // a child resource the operation names instead ("blobServices/default/containers/")
}

// Kinds is the universe's make-up. Deployments and containers have no ARM body
// here: the pipeline reads them, gets 404 and gives no verdict, as it does for
// much of a real Activity Log.
var Kinds = []*Kind{
	{Type: "Microsoft.Storage/storageAccounts", ResourceShare: 0.20, OpShare: 0.26, prefix: "st",
		ops:  []opChoice{{"/write", 0.55, ""}, {"/listKeys/action", 0.35, ""}, {"/blobServices/containers/write", 0.10, "blobServices/default/containers/"}},
		body: storageBody},
	{Type: "Microsoft.Compute/disks", ResourceShare: 0.18, OpShare: 0.11, prefix: "disk-",
		ops: []opChoice{{"/write", 0.8, ""}, {"/beginGetAccess/action", 0.2, ""}}, body: diskBody},
	{Type: "Microsoft.Compute/virtualMachines", ResourceShare: 0.14, OpShare: 0.16, prefix: "vm-",
		ops: []opChoice{{"/write", 0.4, ""}, {"/start/action", 0.2, ""}, {"/deallocate/action", 0.2, ""}, {"/restart/action", 0.2, ""}}, body: vmBody},
	{Type: "Microsoft.Network/networkInterfaces", ResourceShare: 0.14, OpShare: 0.08, prefix: "nic-", ops: []opChoice{{"/write", 1, ""}}, body: nicBody},
	{Type: "Microsoft.Network/networkSecurityGroups", ResourceShare: 0.08, OpShare: 0.07, prefix: "nsg-", ops: []opChoice{{"/write", 1, ""}}, body: nsgBody},
	{Type: "Microsoft.Network/virtualNetworks", ResourceShare: 0.05, OpShare: 0.03, prefix: "vnet-", ops: []opChoice{{"/write", 1, ""}}, body: vnetBody},
	{Type: "Microsoft.Network/publicIPAddresses", ResourceShare: 0.07, OpShare: 0.04, prefix: "pip-", ops: []opChoice{{"/write", 1, ""}}, body: pipBody},
	{Type: "Microsoft.KeyVault/vaults", ResourceShare: 0.05, OpShare: 0.04, prefix: "kv-", ops: []opChoice{{"/write", 1, ""}}, body: vaultBody},
	{Type: "Microsoft.Web/sites", ResourceShare: 0.05, OpShare: 0.06, prefix: "app-", ops: []opChoice{{"/write", 0.6, ""}, {"/restart/action", 0.4, ""}}, body: siteBody},
	{Type: "Microsoft.Resources/deployments", ResourceShare: 0.04, OpShare: 0.15, prefix: "deploy-", ops: []opChoice{{"/write", 1, ""}}},
}

var words = []string{"eng", "itar", "cad", "sim", "hr", "fin", "ops", "data", "ml", "web", "build", "logs", "backup", "share", "archive", "test"}

// Universe is the fixed set of resources a workload is about.
type Universe struct {
	Resources []*Resource
	byKind    map[*Kind][]*Resource
	Subs      []string
	Tenant    string
	armBytes  int
}

// NewUniverse builds n resources, deterministically from seed, with one to
// three ARM versions each.
func NewUniverse(seed uint64, n int) *Universe {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	u := &Universe{byKind: map[*Kind][]*Resource{}, Tenant: uuid(rng)}
	for range Mix.Subscriptions {
		u.Subs = append(u.Subs, uuid(rng))
	}
	for _, k := range Kinds {
		count := int(float64(n)*k.ResourceShare + 0.5)
		for i := range count {
			sub := u.Subs[rng.IntN(len(u.Subs))]
			rg := fmt.Sprintf("rg-%s-%02d", words[rng.IntN(len(words))], rng.IntN(8)+1)
			name := fmt.Sprintf("%s%s%s%04d", k.prefix, words[rng.IntN(len(words))], sep(k), i)
			r := &Resource{Type: k.Type, Name: name, Sub: sub, RG: rg, Kind: k,
				ID: "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + k.Type + "/" + name}
			if k.body != nil {
				s := initialState(rng, k)
				r.Versions = append(r.Versions, Version{At: Start.Add(-24 * time.Hour), Body: mustJSON(k.body(r, s))})
				if (k == Kinds[0] || k == Kinds[1]) && rng.Float64() < Mix.Flipped {
					at := Start.Add(time.Duration(rng.Int64N(int64(6 * time.Hour))))
					s2 := flip(rng, k, s)
					r.Versions = append(r.Versions, Version{At: at, Body: mustJSON(k.body(r, s2))})
					if rng.IntN(3) == 0 { // put right again
						s.tagRev = 2
						r.Versions = append(r.Versions, Version{At: at.Add(10*time.Minute + time.Duration(rng.Int64N(int64(2*time.Hour)))), Body: mustJSON(k.body(r, s))})
					}
				}
				for _, v := range r.Versions {
					u.armBytes += len(v.Body)
				}
			}
			u.Resources = append(u.Resources, r)
			u.byKind[k] = append(u.byKind[k], r)
		}
	}
	return u
}

func sep(k *Kind) string {
	if k == Kinds[0] { // storage account names are lower-case letters and digits
		return ""
	}
	return "-"
}

// Observe loads every version of every resource into a replayed ARM.
func (u *Universe) Observe(arm *replay.ARM) {
	for _, r := range u.Resources {
		for _, v := range r.Versions {
			arm.Observe(session.Line{Source: session.SourceARM, At: v.At, Body: v.Body, ID: r.ID})
		}
	}
}

// ARMBytes is the size of every ARM body the universe holds.
func (u *Universe) ARMBytes() int { return u.armBytes }

// BodyAt returns the resource's ARM body at t, or nil when ARM has none.
func (r *Resource) BodyAt(t time.Time) []byte {
	var b []byte
	for _, v := range r.Versions {
		if !v.At.After(t) {
			b = v.Body
		}
	}
	return b
}

func initialState(rng *rand.Rand, k *Kind) state {
	s := state{location: usRegions[rng.IntN(len(usRegions))]}
	if rng.Float64() < Mix.OutsideRegion {
		s.location = outsideRegions[rng.IntN(len(outsideRegions))]
	}
	switch k {
	case Kinds[0]:
		s.sku = pick(rng, []string{"Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS"}, []float64{0.5, 0.1, 0.25, 0.1, 0.05})
		s.keySource = "Microsoft.Keyvault"
		if rng.Float64() < Mix.StorageNoCMK {
			s.keySource = "Microsoft.Storage"
		}
		s.tls = pick(rng, []string{"TLS1_0", "TLS1_1", "", "TLS1_2"},
			[]float64{Mix.StorageTLS10, Mix.StorageTLS11, Mix.StorageTLSAbs, 1 - Mix.StorageTLS10 - Mix.StorageTLS11 - Mix.StorageTLSAbs})
		s.httpOnly = rng.Float64() < Mix.StorageHTTP
	case Kinds[1]:
		s.diskEnc = "EncryptionAtRestWithCustomerKey"
		if rng.Float64() < Mix.DiskPlatformKey {
			s.diskEnc = "EncryptionAtRestWithPlatformKey"
		}
	}
	return s
}

// flip changes one setting a person might change: CMK off or on, TLS down or up,
// geo-replication on, a disk's key.
func flip(rng *rand.Rand, k *Kind, s state) state {
	s.tagRev = 1
	if k == Kinds[1] {
		if s.diskEnc == "EncryptionAtRestWithCustomerKey" {
			s.diskEnc = "EncryptionAtRestWithPlatformKey"
		} else {
			s.diskEnc = "EncryptionAtRestWithCustomerKey"
		}
		return s
	}
	switch rng.IntN(3) {
	case 0:
		if s.keySource == "Microsoft.Keyvault" {
			s.keySource = "Microsoft.Storage"
		} else {
			s.keySource = "Microsoft.Keyvault"
		}
	case 1:
		if s.tls == "TLS1_2" {
			s.tls = "TLS1_0"
		} else {
			s.tls = "TLS1_2"
		}
	default:
		if s.sku == "Standard_LRS" {
			s.sku = "Standard_RAGRS"
		} else {
			s.sku = "Standard_LRS"
		}
	}
	return s
}

func pick(rng *rand.Rand, vals []string, weights []float64) string {
	x := rng.Float64()
	for i, w := range weights {
		if x < w {
			return vals[i]
		}
		x -= w
	}
	return vals[len(vals)-1]
}

func uuid(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
