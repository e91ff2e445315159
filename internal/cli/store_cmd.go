package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// migratePartition is the audit chain where store migrate records each
// migration (its own partition: not a resource's, which start with "/").
const migratePartition = "~migrate"

// migrateKind is the Kind of the record store migrate writes there.
const migrateKind = "store.migrate"

func (a *App) newStoreCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Manage the store: migrate one kept in the layout before partitions",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newStoreMigrateCommand())
	return cmd
}

func (a *App) newStoreMigrateCommand() *cobra.Command {
	var from, to string
	var force bool
	cmd := &cobra.Command{
		Use:   "migrate --from URL --to URL [--force]",
		Short: "Copy a store of the layout before partitions into a new store",
		Long: `migrate copies a store kept in the layout before partitions (one audit chain for
everything) into a store of today's layout (one partition per judged resource, DESIGN 6): its
findings, each into its resource's partition, the last known states of its resources, its
outbox items (pending and failed, each into the partition of the finding it is about) and its
grants. It verifies the old audit chain first and refuses to migrate one that does not verify
(--force migrates it anyway, and the migration record says so); the old chain's head (Seq and
hash) is recorded in the new store's first seal, so that the new trail vouches for the old
one: keep the old store, or an export of its trail, to show the records themselves.

Not copied: the event keys seen (an event delivered again after the migration is judged again,
which changes no finding), and the poison records. Stop the app while migrating.

The destination must be new, or hold only an earlier, interrupted migration of the same
store: then migrate carries on where it stopped. Run twice, it finds the migration done and
changes nothing.`,
		Example: "  exportguard store migrate --from sqlite:exportguard.db --to sqlite:exportguard-v2.db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return errors.New("store migrate: give --from URL (the old store) and --to URL (the new one)")
			}
			if err := a.migrateStore(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), from, to, force); err != nil {
				return fmt.Errorf("store migrate: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the old store: sqlite:PATH or cosmos:https://HOST:PORT/?database=NAME")
	cmd.Flags().StringVar(&to, "to", "", "the new store: sqlite:PATH (created when missing) or cosmos:https://HOST:PORT/?database=NAME")
	cmd.Flags().BoolVar(&force, "force", false, "migrate even when the old audit chain does not verify (the migration record says so)")
	return cmd
}

// openLegacy opens the old store a --from URL names.
func (a *App) openLegacy(ctx context.Context, storeURL string) (guard.LegacyStore, error) {
	scheme, rest, _ := strings.Cut(storeURL, ":")
	switch scheme {
	case "sqlite":
		if rest == "" || rest == sqlite.Memory {
			return nil, fmt.Errorf("store %s: name the old store's file", storeURL)
		}
		return sqlite.OpenLegacy(rest)
	case "cosmos":
		return a.openCosmosLegacy(ctx, rest)
	case "memory":
		return nil, fmt.Errorf("store %s: an in-memory store holds nothing to migrate", storeURL)
	}
	return nil, fmt.Errorf("store %s: unknown kind %q (want sqlite:PATH or cosmos:URL)", storeURL, scheme)
}

// migration is what migrate records in migratePartition: where from, what
// was copied, and the old chain's head, verified or not.
type migration struct {
	From         string          `json:"from"`
	Legacy       guard.AuditHead `json:"legacy"`
	Records      int             `json:"legacyRecords"`
	Verified     bool            `json:"legacyVerified"`
	Problem      string          `json:"legacyProblem,omitempty"` // why it did not verify (--force)
	Findings     int             `json:"findings"`
	Resources    int             `json:"resources"`
	OutboxItems  int             `json:"outboxItems"`
	Grants       int             `json:"grants"`
	SkippedItems []string        `json:"skippedOutboxItems,omitempty"` // items of no finding known (--force)
}

// migrateStore migrates from into to; see newStoreMigrateCommand.
func (a *App) migrateStore(ctx context.Context, stdout, stderr io.Writer, from, to string, force bool) error {
	if sameStore(from, to) {
		return fmt.Errorf("--from and --to name the same store %s: migrate copies into a new one", from)
	}
	if scheme, rest, _ := strings.Cut(to, ":"); scheme == "memory" || scheme == "sqlite" && rest == sqlite.Memory {
		return fmt.Errorf("--to %s: an in-memory store is gone when migrate ends; name a sqlite:PATH or cosmos: store", to)
	}
	old, err := a.openLegacy(ctx, from)
	if err != nil {
		return fmt.Errorf("open the old store: %w", err)
	}
	defer old.Close()

	// The old chain first: nothing is written when it does not verify.
	m := migration{From: redactStoreURL(from)}
	head, verr := a.verifyLegacyChain(ctx, old, stderr, &m)
	if verr != nil && !force {
		return fmt.Errorf("the old audit trail of %s does not verify: %w; nothing was migrated (--force migrates it anyway and records that)", from, verr)
	}
	if verr != nil {
		m.Problem = verr.Error()
		fmt.Fprintf(stderr, "warning: the old audit trail does not verify (%v); migrating it anyway (--force), and recording that\n", verr)
	}
	m.Legacy = head

	findings, err := old.ListFindings(ctx)
	if err != nil {
		return fmt.Errorf("read the old store's findings: %w", err)
	}
	resources, err := old.ListResources(ctx)
	if err != nil {
		return fmt.Errorf("read the old store's resources: %w", err)
	}
	items, err := old.ListOutbox(ctx)
	if err != nil {
		return fmt.Errorf("read the old store's outbox: %w", err)
	}
	grants, err := old.ListGrants(ctx)
	if err != nil {
		return fmt.Errorf("read the old store's grants: %w", err)
	}
	items, skipped, err := placeOutboxItems(items, findings, force)
	if err != nil {
		return err
	}
	m.SkippedItems = skipped
	m.Findings, m.Resources, m.OutboxItems, m.Grants = len(findings), len(resources), len(items), len(grants)

	st, err := a.openStore(ctx, to)
	if err != nil {
		return fmt.Errorf("open the new store: %w", err)
	}
	defer st.Close()
	done, resume, err := checkDestination(ctx, st, to, head, findings, resources, items, grants)
	if err != nil {
		return err
	}
	if done != nil {
		fmt.Fprintf(stdout, "%s was migrated to %s already: its first seal (Seq %d) names the old trail's head, Seq %d hash %s; nothing changed\n",
			from, to, done.Seq, head.Seq, head.Hash)
		return nil
	}
	existing, err := st.ListOutbox(ctx)
	if err != nil {
		return fmt.Errorf("read the new store's outbox: %w", err)
	}
	have := map[string]bool{}
	for _, it := range existing {
		have[it.ID] = true
	}

	copied := 0
	prog := a.newProgress(stderr, int64(len(findings)+len(resources)), func() string {
		return fmt.Sprintf("copied %d of %d findings and resources", copied, len(findings)+len(resources))
	})
	defer prog.stop()
	for _, f := range findings {
		if _, err := st.UpdateFinding(ctx, guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
			prog.stop()
			return fmt.Errorf("copy finding %s: %w", f.ID, err)
		}
		copied++
		prog.tick(int64(copied))
	}
	for i := range resources {
		if err := st.PutResource(ctx, &resources[i]); err != nil {
			prog.stop()
			return fmt.Errorf("copy resource %s: %w", resources[i].ID, err)
		}
		copied++
		prog.tick(int64(copied))
	}
	prog.stop()
	for _, it := range items {
		if have[it.ID] {
			continue // copied by the interrupted run
		}
		if err := copyOutboxItem(ctx, st, it); err != nil {
			return fmt.Errorf("copy outbox item %s: %w", it.ID, err)
		}
	}
	for _, g := range grants {
		if err := st.PutGrant(ctx, g); err != nil {
			return fmt.Errorf("copy grant %s: %w", g.ID, err)
		}
	}

	if !resume {
		raw, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode the migration record: %w", err)
		}
		if _, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: migratePartition, At: a.now().UTC(), Kind: migrateKind,
			Subject: m.From, Data: raw}); err != nil {
			return fmt.Errorf("record the migration: %w", err)
		}
	}
	seal, err := appendFirstSeal(ctx, st, head)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s to %s: %d finding(s), %d resource(s), %d outbox item(s), %d grant(s)\n",
		from, to, len(findings), len(resources), len(items), len(grants))
	state := "verified"
	if m.Problem != "" {
		state = "did NOT verify (--force)"
	}
	fmt.Fprintf(stdout, "the old audit trail's %d record(s) %s; its head, Seq %d hash %s, is named by the new trail's first seal (Seq %d hash %s)\n",
		m.Records, state, head.Seq, head.Hash, seal.Seq, seal.Hash)
	if len(skipped) > 0 {
		fmt.Fprintf(stdout, "%d outbox item(s) about no finding known were left behind (--force): %s\n", len(skipped), strings.Join(skipped, ", "))
	}
	return nil
}

// verifyLegacyChain walks the old chain through the v1 verifier and returns
// its head: the last record verified, or with an error the last record read
// (what --force records).
func (a *App) verifyLegacyChain(ctx context.Context, old guard.LegacyStore, stderr io.Writer, m *migration) (guard.AuditHead, error) {
	prog := a.newProgress(stderr, 0, func() string { return fmt.Sprintf("verified %d old audit records", m.Records) })
	defer prog.stop()
	var v guard.AuditVerifier
	var last guard.AuditRecord
	var bad error
	after := int64(0)
	for {
		page, err := old.ListAudit(ctx, after, auditPage)
		if err != nil {
			return guard.AuditHead{}, fmt.Errorf("read the old audit trail after Seq %d: %w", after, err)
		}
		if len(page) == 0 {
			break
		}
		for _, rec := range page {
			if err := v.Add(rec); err != nil && bad == nil {
				bad = err
			}
			last = rec
			m.Records++
			prog.tick(int64(m.Records))
		}
		if page[len(page)-1].Seq <= after {
			return guard.AuditHead{}, fmt.Errorf("read the old audit trail: the store listed Seq %d after %d", page[len(page)-1].Seq, after)
		}
		after = page[len(page)-1].Seq
	}
	m.Verified = bad == nil
	if bad == nil {
		last = v.Last()
	}
	return guard.AuditHead{Seq: last.Seq, Hash: last.Hash, At: last.At}, bad
}

// placeOutboxItems sets each item's partition: that of the resource its
// payload names (a notification's finding, a remediation plan), else that of
// the finding it names. An item about no finding known is an error, or with
// force left behind and listed.
func placeOutboxItems(items []guard.OutboxItem, findings []guard.Finding, force bool) ([]guard.OutboxItem, []string, error) {
	byID := map[string]string{}
	for _, f := range findings {
		byID[f.ID] = f.ResourceID
	}
	var out []guard.OutboxItem
	var skipped []string
	for _, it := range items {
		// The payloads of today's kinds: a notification (notify.Message) names
		// its finding, a remediation plan (remediate.Plan) its resource and
		// finding.
		var p struct {
			ResourceID string `json:"resourceId"`
			FindingID  string `json:"findingId"`
			Finding    struct {
				ID         string `json:"id"`
				ResourceID string `json:"resourceId"`
			} `json:"finding"`
		}
		_ = json.Unmarshal(it.Payload, &p) // a payload of another shape names nothing
		resource := p.ResourceID
		if resource == "" {
			resource = p.Finding.ResourceID
		}
		for _, id := range []string{p.FindingID, p.Finding.ID} {
			if resource == "" && id != "" {
				resource = byID[id]
			}
		}
		if resource == "" {
			if !force {
				return nil, nil, fmt.Errorf("outbox item %s (%s): its payload names no finding or resource the old store holds, so it has no partition; nothing was migrated (--force leaves it behind)", it.ID, it.Kind)
			}
			skipped = append(skipped, it.ID)
			continue
		}
		it.Partition = guard.PartitionOf(resource)
		out = append(out, it)
	}
	return out, skipped, nil
}

// copyOutboxItem enqueues an item as the old store kept it: attempts, last
// error, and a failed item failed (Fail counts the attempt it records).
func copyOutboxItem(ctx context.Context, st guard.Store, it guard.OutboxItem) error {
	failed := it.Failed
	if failed {
		it.Failed = false
		it.Attempts = max(it.Attempts-1, 0)
	}
	if err := st.Enqueue(ctx, it); err != nil {
		return err
	}
	if failed {
		return st.Fail(ctx, it.Partition, it.ID, it.LastError)
	}
	return nil
}

// checkDestination refuses a destination holding data from elsewhere. It
// returns the first seal when the migration of this old trail (head) is done
// already, and resume when an interrupted one recorded it in migratePartition
// but did not seal it.
func checkDestination(ctx context.Context, st guard.Store, to string, head guard.AuditHead,
	findings []guard.Finding, resources []guard.Resource, items []guard.OutboxItem, grants []guard.Grant) (done *guard.AuditRecord, resume bool, err error) {
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		return nil, false, fmt.Errorf("read the new store's audit heads: %w", err)
	}
	elsewhere := func(what string) error {
		return fmt.Errorf("the new store %s holds %s that did not come from the old store: migrate copies into a new store, or carries on one it began", to, what)
	}
	for _, h := range heads {
		switch h.Partition {
		case guard.SealPartition:
			seals, err := st.ListAudit(ctx, guard.SealPartition, 0, 1)
			if err != nil {
				return nil, false, fmt.Errorf("read the new store's first seal: %w", err)
			}
			var sd guard.SealData
			if len(seals) == 1 && json.Unmarshal(seals[0].Data, &sd) == nil && sd.Legacy != nil && sd.Legacy.Seq == head.Seq && sd.Legacy.Hash == head.Hash {
				return &seals[0], false, nil
			}
			return nil, false, elsewhere("an audit trail sealed")
		case migratePartition:
			recs, err := st.ListAudit(ctx, migratePartition, 0, 10)
			if err != nil {
				return nil, false, fmt.Errorf("read the new store's migration record: %w", err)
			}
			for _, r := range recs {
				var m migration
				if r.Kind == migrateKind && json.Unmarshal(r.Data, &m) == nil && m.Legacy.Seq == head.Seq && m.Legacy.Hash == head.Hash {
					resume = true
				}
			}
			if !resume {
				return nil, false, elsewhere("the migration of another store")
			}
		default:
			return nil, false, elsewhere("an audit trail (partition " + h.Partition + ")")
		}
	}
	// What an interrupted run copied is in the old store too.
	ids := map[string]bool{}
	for _, f := range findings {
		ids["finding "+f.ID] = true
	}
	for _, r := range resources {
		ids["resource "+guard.IDKey(r.ID)] = true
	}
	for _, it := range items {
		ids["outbox item "+it.ID] = true
	}
	for _, g := range grants {
		ids["grant "+g.ID] = true
	}
	fs, err := st.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return nil, false, fmt.Errorf("read the new store's findings: %w", err)
	}
	for _, f := range fs {
		if !ids["finding "+f.ID] {
			return nil, false, elsewhere("finding " + f.ID)
		}
	}
	rs, err := st.ListResources(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read the new store's resources: %w", err)
	}
	for _, r := range rs {
		if !ids["resource "+guard.IDKey(r.ID)] {
			return nil, false, elsewhere("the state of resource " + r.ID)
		}
	}
	obs, err := st.ListOutbox(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read the new store's outbox: %w", err)
	}
	for _, it := range obs {
		if !ids["outbox item "+it.ID] {
			return nil, false, elsewhere("outbox item " + it.ID)
		}
	}
	gs, err := st.DueGrants(ctx, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, false, fmt.Errorf("read the new store's grants: %w", err)
	}
	for _, g := range gs {
		if !ids["grant "+g.ID] {
			return nil, false, elsewhere("grant " + g.ID)
		}
	}
	return nil, resume, nil
}

// appendFirstSeal seals the new store's partitions (the migration record's,
// and any a resumed run finds) and names the old chain's head.
func appendFirstSeal(ctx context.Context, st guard.Store, legacy guard.AuditHead) (guard.AuditRecord, error) {
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("read the new store's audit heads: %w", err)
	}
	heads = slices.DeleteFunc(heads, func(h guard.AuditHead) bool { return h.Partition == guard.SealPartition })
	sd := guard.NewSealData(heads)
	sd.Legacy = &legacy
	raw, err := json.Marshal(sd)
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("encode the first seal: %w", err)
	}
	// In a Batch, so that a seal that is not the first (another process
	// sealed the new store meanwhile: is the app running on it?) is never
	// stored: only the first seal may name the legacy head.
	errNotFirst := errors.New("another process sealed the new store meanwhile: stop the app, and run migrate again")
	at := time.Now().UTC()
	var seal guard.AuditRecord
	err = st.Batch(ctx, func(ctx context.Context) error {
		var err error
		seal, err = st.AppendAudit(ctx, guard.AuditRecord{Partition: guard.SealPartition, At: at, Kind: guard.SealKind, Subject: migrateKind, Data: raw})
		if err == nil && seal.Seq != 1 {
			err = errNotFirst
		}
		return err
	})
	if err != nil {
		return guard.AuditRecord{}, fmt.Errorf("append the first seal: %w", err)
	}
	return seal, nil
}

// sameStore reports whether two store URLs name one store (for sqlite, one file).
func sameStore(a, b string) bool {
	sa, ra, _ := strings.Cut(a, ":")
	sb, rb, _ := strings.Cut(b, ":")
	if sa == "sqlite" && sb == "sqlite" && ra != "" && rb != "" {
		aa, errA := filepath.Abs(ra)
		ab, errB := filepath.Abs(rb)
		return errA == nil && errB == nil && aa == ab
	}
	return a == b
}

// redactStoreURL is the URL as the migration record keeps it: of a cosmos:
// URL, the host and the database only (the key is never in the URL, but its
// query may hold other settings).
func redactStoreURL(s string) string {
	scheme, rest, _ := strings.Cut(s, ":")
	if scheme != "cosmos" {
		return s
	}
	u, err := url.Parse(rest)
	if err != nil {
		return "cosmos:"
	}
	out := "cosmos:" + u.Scheme + "://" + u.Host + "/"
	if db := u.Query().Get("database"); db != "" {
		out += "?database=" + url.QueryEscape(db)
	}
	return out
}
