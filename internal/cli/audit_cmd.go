package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
)

// defaultStore is the store serve uses when EXPORTGUARD_STORE is not set.
const defaultStore = "sqlite:exportguard.db"

// auditPage is how many records one ListAudit call reads.
const auditPage = 1000

const storeFlagHelp = "store URL: sqlite:PATH or cosmos:https://HOST:PORT/?database=NAME (key in COSMOS_KEY); default $EXPORTGUARD_STORE, else " + defaultStore

func (a *App) newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and export the tamper-evident audit trail",
		Long: `The audit trail records every change the pipeline processed, with its verdicts and
finding transitions, in one hash chain per partition (one partition per judged resource):
each record carries the SHA-256 of its content, of its partition and of the record before it
(see guard.AuditHash for the exact encoding), so that a record altered, removed or inserted in
the store breaks its partition's chain where it happened. The sweep timer writes seals: each
names the last record of every partition that changed since the seal before, as a Merkle root,
and chains to that seal, so that a partition rewritten or cut short after a seal no longer
matches it.

Anyone with write access to the store could still rewrite the seal chain from some seal on,
or cut seals off its end, and records newer than the last seal are covered by their own
chain only (verify reports them as unsealed). Keep the Seq and hash of the last seal that
verify prints (or an export) and check them next time with verify --expect SEQ:HASH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newAuditVerifyCommand(), a.newAuditExportCommand())
	return cmd
}

func (a *App) newAuditVerifyCommand() *cobra.Command {
	var storeURL, file string
	var expect []string
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "verify [--store URL | --file FILE] [--expect [PARTITION@]SEQ:HASH]... [--format table|json|csv]",
		Short: "Check every partition's hash chain and every seal, and report the first record altered, removed or inserted",
		Long: `verify reads the audit trail, from the store or from a file that audit export wrote,
and checks every partition's chain (Seqs run from 1 without gaps, each record's hash matches
its content, each record's previous hash is the hash of the record before it) and every seal
(the seal chain itself, its Merkle root, and that each partition holds the record the seal
names, with that hash).

An intact trail prints how many records and seals verified, the last seal's Seq and hash, and
the records newer than the last seal (unsealed: only their own chain covers them yet), and
exits 0. Otherwise it names the first bad record (its partition, Seq, kind and subject, and
why: altered, removed, inserted, rewritten or a bad seal) on stderr and exits 1.

--expect SEQ:HASH also requires seal SEQ to have that hash, as noted at an earlier
verification: it catches a seal chain rewritten from some seal on, or cut short.
--expect PARTITION@SEQ:HASH does the same for record SEQ of a partition (a partition, or a
resource ID, whose partition is taken). A file exported before partitions (no "partition" in
its lines) is verified as the one chain it is, and there SEQ:HASH names its record SEQ.

--format json prints the result as one JSON object (csv: one row), verified or not, with the
counts, the last seal's Seq and hash, and the error when the trail does not verify.`,
		Example: "  exportguard audit verify --store sqlite:exportguard.db\n  exportguard audit verify --file trail.jsonl --expect 1200:9f86d081884c7d65...",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			anchors, err := parseAnchors(expect)
			if err != nil {
				return err
			}
			if file != "" {
				return a.verifyFile(cmd, file, anchors)
			}
			if storeURL == "" {
				storeURL = a.envOr(envStore, defaultStore)
			}
			st, err := a.openExistingStore(cmd.Context(), "audit", storeURL)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			defer st.Close()
			n := 0
			prog := a.auditProgress(cmd, "verified", &n)
			defer prog.stop()
			rep, err := guard.VerifyTrail(cmd.Context(), st, auditPage, func(rec guard.AuditRecord) error {
				n++
				prog.tick(int64(n))
				return anchors.check(rec, guard.SealPartition)
			})
			prog.stop()
			return reportTrail(cmd, storeURL, rep, err, anchors, guard.SealPartition)
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVar(&file, "file", "", "verify this file, as audit export wrote it (JSON lines), instead of a store")
	addFormatFlag(cmd, &format, "result")
	cmd.Flags().StringArrayVar(&expect, "expect", nil, "SEQ:HASH: seal SEQ must have this hash; PARTITION@SEQ:HASH: that partition's record SEQ must (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("store", "file")
	return cmd
}

// verifyFile verifies a file audit export wrote: one with partitions through a
// TrailVerifier (its seals first, in a first pass), one written before
// partitions as one chain.
func (a *App) verifyFile(cmd *cobra.Command, file string, anchors *anchors) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	partitioned := false
	errFirst := errors.New("first record read")
	if err := readAuditLines(f, func(rec guard.AuditRecord) error {
		partitioned = rec.Partition != ""
		return errFirst
	}); err != nil && !errors.Is(err, errFirst) {
		return fmt.Errorf("audit verify %s: %w", file, err)
	}
	n := 0
	prog := a.auditProgress(cmd, "verified", &n)
	defer prog.stop()
	if !partitioned {
		return verifyLegacyFile(cmd, file, f, anchors, prog)
	}
	var v guard.TrailVerifier
	for _, seals := range []bool{true, false} {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("audit verify %s: %w", file, err)
		}
		err := readAuditLines(f, func(rec guard.AuditRecord) error {
			if (rec.Partition == guard.SealPartition) != seals {
				return nil
			}
			n++
			prog.tick(int64(n))
			if err := anchors.check(rec, guard.SealPartition); err != nil {
				return err
			}
			if seals {
				return v.AddSeal(rec)
			}
			return v.Add(rec)
		})
		if err != nil {
			prog.stop()
			return reportTrail(cmd, file, nil, err, anchors, guard.SealPartition)
		}
	}
	prog.stop()
	rep, err := v.Finish(nil)
	return reportTrail(cmd, file, rep, err, anchors, guard.SealPartition)
}

// verifyLegacyFile verifies an export written before partitions: one chain,
// whose records --expect SEQ:HASH names.
func verifyLegacyFile(cmd *cobra.Command, file string, f *os.File, anchors *anchors, prog *progress) error {
	var v guard.AuditVerifier
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("audit verify %s: %w", file, err)
	}
	err := readAuditLines(f, func(rec guard.AuditRecord) error {
		if rec.Partition != "" {
			return fmt.Errorf("audit record %d (%s %s) of partition %s: %w: the file's first record has no partition, so it was exported before partitions",
				rec.Seq, rec.Kind, rec.Subject, rec.Partition, errMixed)
		}
		if err := v.Add(rec); err != nil {
			return err
		}
		if err := anchors.check(rec, ""); err != nil {
			return err
		}
		prog.tick(int64(v.Verified()))
		return nil
	})
	prog.stop()
	last := v.Last()
	var ae *guard.AuditError
	switch {
	case errors.As(err, &ae):
		return trailFailed(cmd, file, fmt.Errorf("audit trail of %s does not verify: %w; the %d record(s) before it verify", file, err, ae.Verified))
	case errors.Is(err, errAnchor), errors.Is(err, errMixed):
		return trailFailed(cmd, file, fmt.Errorf("audit trail of %s does not verify: %w; the %d record(s) before it verify", file, err, v.Verified()))
	case err != nil:
		return trailFailed(cmd, file, fmt.Errorf("audit verify %s: %w", file, err))
	}
	if err := anchors.missing(""); err != nil {
		return trailFailed(cmd, file, fmt.Errorf("audit trail of %s does not verify: %w", file, err))
	}
	out := cmd.OutOrStdout()
	if f := formatOf(cmd); f != formatTable {
		res := trailResult{Trail: file, Verified: true, Records: v.Verified(), Expected: anchors.len()}
		if v.Verified() > 0 {
			res.LastSeq, res.LastHash = last.Seq, last.Hash
		}
		return writeListing(out, f, 0, []trailResult{res}, trailColumns, false)
	}
	if v.Verified() == 0 {
		fmt.Fprintf(out, "%s: the audit trail is empty: 0 records verified\n", file)
		return nil
	}
	fmt.Fprintf(out, "%s: %d audit record(s) verified, one chain kept before partitions, Seq 1 to %d; last hash %s\n", file, v.Verified(), last.Seq, last.Hash)
	if anchors.len() > 0 {
		fmt.Fprintf(out, "%d expected hash(es) match\n", anchors.len())
	}
	return nil
}

// errMixed marks a record with a partition in a trail kept before partitions.
var errMixed = errors.New("a record of a partition in a trail without partitions")

// maxUnsealedShown is how many partitions with unsealed records verify lists.
const maxUnsealedShown = 20

// reportTrail prints what a TrailVerifier found, or returns its error with
// the trail's name.
func reportTrail(cmd *cobra.Command, name string, rep *guard.TrailReport, err error, anchors *anchors, plain string) error {
	var te *guard.TrailError
	switch {
	case errors.As(err, &te):
		return trailFailed(cmd, name, fmt.Errorf("audit trail of %s does not verify: %w; the %d record(s) before it in that chain verify", name, err, te.Verified))
	case errors.Is(err, errAnchor):
		return trailFailed(cmd, name, fmt.Errorf("audit trail of %s does not verify: %w", name, err))
	case err != nil:
		return trailFailed(cmd, name, fmt.Errorf("audit verify %s: %w", name, err))
	}
	if err := anchors.missing(plain); err != nil {
		return trailFailed(cmd, name, fmt.Errorf("audit trail of %s does not verify: %w", name, err))
	}
	out := cmd.OutOrStdout()
	if f := formatOf(cmd); f != formatTable {
		res := trailResult{Trail: name, Verified: true, Records: rep.Records, Partitions: rep.Partitions, Seals: rep.Seals,
			UnsealedRecords: rep.UnsealedRecords(), UnsealedPartitions: len(rep.Unsealed), Expected: anchors.len()}
		if rep.Seals > 0 {
			res.LastSeq, res.LastHash = rep.LastSeal.Seq, rep.LastSeal.Hash
		}
		return writeListing(out, f, 0, []trailResult{res}, trailColumns, false)
	}
	if rep.Records == 0 && rep.Seals == 0 {
		fmt.Fprintf(out, "%s: the audit trail is empty: 0 records verified\n", name)
		return nil
	}
	fmt.Fprintf(out, "%s: %d audit record(s) verified in %d partition chain(s), and %d seal(s)", name, rep.Records, rep.Partitions, rep.Seals)
	if rep.Seals > 0 {
		fmt.Fprintf(out, "; last seal Seq %d hash %s\n", rep.LastSeal.Seq, rep.LastSeal.Hash)
	} else {
		fmt.Fprintln(out, "; no seal yet")
	}
	if rep.Legacy != nil {
		fmt.Fprintf(out, "the first seal names the head of the trail kept before partitions (migrated): Seq %d hash %s\n", rep.Legacy.Seq, rep.Legacy.Hash)
	}
	if len(rep.Unsealed) == 0 {
		fmt.Fprintln(out, "every record is sealed")
	} else {
		fmt.Fprintf(out, "%d record(s) in %d partition(s) are newer than the last seal that names their partition (unsealed: only their own chain covers them yet):\n",
			rep.UnsealedRecords(), len(rep.Unsealed))
		for i, u := range rep.Unsealed {
			if i == maxUnsealedShown {
				fmt.Fprintf(out, "  … and %d more partition(s)\n", len(rep.Unsealed)-i)
				break
			}
			fmt.Fprintf(out, "  %s: Seq %d to %d\n", u.Partition, u.After+1, u.Head)
		}
	}
	if anchors.len() > 0 {
		fmt.Fprintf(out, "%d expected hash(es) match\n", anchors.len())
	}
	return nil
}

func (a *App) newAuditExportCommand() *cobra.Command {
	var storeURL, output string
	cmd := &cobra.Command{
		Use:   "export [--store URL] [-o FILE]",
		Short: "Write the audit trail as JSON lines, partition by partition and then the seals, for an auditor",
		Long: `export writes every audit record as one JSON object per line, each partition's chain in
Seq order, partition after partition, and then the seals:
{"partition":…,"seq":…,"at":…,"kind":…,"subject":…,"data":…,"prevHash":…,"hash":…}, for an
auditor. audit verify --file checks such a file; anyone can also recompute the hashes. A
record's hash is the SHA-256, in lowercase hex, of eight netstrings (LENGTH:BYTES, with LENGTH
in decimal): "exportguard.audit.v2", partition, seq in decimal, at, kind, subject, data and
prevHash ("" for a chain's first record), where "at" and "data" are the exact bytes of the
line: "at" is written in UTC as the hash covers it, and "data" (absent when empty) verbatim,
byte for byte as the store keeps it, between ,"data": and ,"prevHash":. (A line without a
partition, of a trail kept before partitions, hashes "exportguard.audit.v1" and no partition.)
A seal's data names the head (partition, seq, hash) of every partition it seals and their
Merkle root (see guard.MerkleRoot).

With -o the file is written whole or not at all; without, the lines go to stdout. A summary
(how many records and seals, the last seal's hash) goes to stderr. export does not verify:
run audit verify.`,
		Example: "  exportguard audit export --store sqlite:exportguard.db -o trail.jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if storeURL == "" {
				storeURL = a.envOr(envStore, defaultStore)
			}
			st, err := a.openExistingStore(cmd.Context(), "audit", storeURL)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer st.Close()
			w, commit, abort, err := exportWriter(cmd.OutOrStdout(), output)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer abort()
			var n, partitions, seals int
			prog := a.auditProgress(cmd, "exported", &n)
			defer prog.stop()
			var lastSeal guard.AuditRecord
			write := func(rec guard.AuditRecord) error {
				line, err := auditLine(rec)
				if err != nil {
					return err
				}
				if _, err := w.Write(line); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				n++
				prog.tick(int64(n))
				if rec.Partition == guard.SealPartition {
					seals, lastSeal = seals+1, rec
				}
				return nil
			}
			err = func() error {
				heads, err := st.AuditHeads(cmd.Context(), time.Time{})
				if err != nil {
					return fmt.Errorf("read the audit heads: %w", err)
				}
				for _, h := range heads {
					if h.Partition == guard.SealPartition {
						continue
					}
					partitions++
					if err := guard.WalkAudit(cmd.Context(), st, h.Partition, auditPage, write); err != nil {
						return err
					}
				}
				if err := guard.WalkAudit(cmd.Context(), st, guard.SealPartition, auditPage, write); err != nil {
					return err
				}
				return commit()
			}()
			prog.stop()
			if err != nil {
				return fmt.Errorf("audit export %s: %w", storeURL, err)
			}
			dest := "stdout"
			if output != "" {
				dest = output
			}
			summary := fmt.Sprintf("exported %d audit record(s) of %s to %s: %d partition chain(s) and %d seal(s)", n, storeURL, dest, partitions, seals)
			if seals > 0 {
				summary += fmt.Sprintf("; last seal Seq %d hash %s", lastSeal.Seq, lastSeal.Hash)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), summary)
			return nil
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of stdout")
	return cmd
}

// openExistingStore opens a store that must exist already, for verb (audit,
// report, remediate): they read what a run kept, so a sqlite: path that names
// no file is a mistake (opening it would create an empty store that verifies),
// and memory: holds nothing.
func (a *App) openExistingStore(ctx context.Context, verb, url string) (guard.Store, error) {
	scheme, rest, _ := strings.Cut(url, ":")
	switch {
	case scheme == "memory" || scheme == "sqlite" && rest == ":memory:":
		return nil, fmt.Errorf("store %s: an in-memory store holds nothing between runs; name a sqlite:PATH or cosmos: store", url)
	case scheme == "sqlite" && rest != "":
		if _, err := os.Stat(rest); err != nil {
			return nil, fmt.Errorf("store %s: %w (%s reads an existing store: one that replay --store, scan or serve filled)", url, err, verb)
		}
	}
	st, err := a.openStore(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// readAuditLines calls fn for each record of a file audit export wrote. Data
// comes back byte for byte: json.RawMessage keeps the bytes of the line.
func readAuditLines(r io.Reader, fn func(guard.AuditRecord) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var rec guard.AuditRecord
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("line %d: not an audit record: %w", n, err)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// auditLine is rec as one line of an export: the fields of guard.AuditRecord
// (partition first, and absent when empty),
// with At in UTC as the hash covers it, and Data verbatim, since its bytes are
// hashed (encoding/json would compact and escape it). A Data that is not JSON
// on one line cannot be written so, and is an error naming the record.
func auditLine(rec guard.AuditRecord) ([]byte, error) {
	if len(rec.Data) > 0 && (!json.Valid(rec.Data) || bytes.ContainsAny(rec.Data, "\r\n")) {
		return nil, fmt.Errorf("record %d (%s %s) of partition %s: its data is not JSON on one line, so it cannot be exported verbatim", rec.Seq, rec.Kind, rec.Subject, rec.Partition)
	}
	var b bytes.Buffer
	b.WriteString("{")
	if rec.Partition != "" { // none on a record kept before partitions: its line stays as it was
		writeField(&b, "partition", rec.Partition)
		b.WriteString(",")
	}
	b.WriteString(`"seq":`)
	b.WriteString(strconv.FormatInt(rec.Seq, 10))
	for _, f := range []struct{ name, value string }{
		{"at", rec.At.UTC().Format(time.RFC3339Nano)}, {"kind", rec.Kind}, {"subject", rec.Subject},
	} {
		writeField(&b, f.name, f.value)
	}
	if len(rec.Data) > 0 {
		b.WriteString(`,"data":`)
		b.Write(rec.Data)
	}
	writeField(&b, "prevHash", rec.PrevHash)
	writeField(&b, "hash", rec.Hash)
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func writeField(b *bytes.Buffer, name, value string) {
	v, _ := json.Marshal(value) // a string always marshals
	if b.Len() > 1 {
		b.WriteString(",")
	}
	fmt.Fprintf(b, `"%s":%s`, name, v)
}

// exportWriter returns where export writes: stdout, or a temporary file beside
// path that commit renames to path (and abort removes, when not committed).
func exportWriter(stdout io.Writer, path string) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" {
		bw := bufio.NewWriter(stdout)
		return bw, bw.Flush, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, nil, err
	}
	bw := bufio.NewWriter(f)
	done := false
	commit = func() error {
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			return err
		}
		done = true
		return nil
	}
	abort = func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}
	return bw, commit, abort, nil
}

// errAnchor marks a record whose hash is not the one --expect gave.
var errAnchor = errors.New("not the expected hash")

// anchorKey is a record --expect names: a partition's record, or with
// partition "" one of the chain SEQ:HASH names (the seals; the one chain of a
// trail kept before partitions).
type anchorKey struct {
	partition string
	seq       int64
}

// anchors are the hashes --expect requires, and what a walk saw of them.
type anchors struct {
	want map[anchorKey]string
	seen map[anchorKey]bool
	last map[string]int64 // the last Seq seen of each chain an anchor names
}

func parseAnchors(flags []string) (*anchors, error) {
	a := &anchors{want: map[anchorKey]string{}, seen: map[anchorKey]bool{}, last: map[string]int64{}}
	for _, f := range flags {
		partition, rest := "", f
		if i := strings.LastIndex(f, "@"); i >= 0 {
			partition, rest = f[:i], f[i+1:]
			if strings.HasPrefix(partition, "/") {
				partition = guard.PartitionOf(partition) // a resource ID names its partition
			}
		}
		seqText, hash, ok := strings.Cut(rest, ":")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || seq < 1 || len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" ||
			strings.Contains(f, "@") && partition == "" {
			return nil, fmt.Errorf("--expect %q: want SEQ:HASH (a seal) or PARTITION@SEQ:HASH (a partition's record), a Seq from 1 and a hash of 64 hex digits, as audit verify prints them", f)
		}
		a.want[anchorKey{partition, seq}] = strings.ToLower(hash)
	}
	return a, nil
}

func (a *anchors) len() int { return len(a.want) }

// check reports a record that --expect gave another hash. plain is the chain
// that SEQ:HASH names.
func (a *anchors) check(rec guard.AuditRecord, plain string) error {
	if len(a.want) == 0 {
		return nil
	}
	k := anchorKey{rec.Partition, rec.Seq}
	if k.partition == plain {
		k.partition = ""
	}
	a.last[k.partition] = rec.Seq
	want, ok := a.want[k]
	if !ok {
		return nil
	}
	a.seen[k] = true
	if rec.Hash != want {
		return fmt.Errorf("%s: %w: its hash is %s, --expect says %s: the chain was rewritten at or before it",
			anchorName(anchorKey{rec.Partition, rec.Seq}, rec.Kind, rec.Subject), errAnchor, rec.Hash, want)
	}
	return nil
}

func anchorName(k anchorKey, kind, subject string) string {
	where := ""
	if k.partition != "" {
		where = "partition " + k.partition + ": "
	}
	if kind == "" && subject == "" {
		return fmt.Sprintf("%saudit record %d", where, k.seq)
	}
	return fmt.Sprintf("%saudit record %d (%s %s)", where, k.seq, kind, subject)
}

// missing reports the first record --expect named that the walk did not see:
// one beyond its chain's end. plain names the chain SEQ:HASH names, for the
// message.
func (a *anchors) missing(plain string) error {
	keys := make([]anchorKey, 0, len(a.want))
	for k := range a.want {
		if !a.seen[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(x, y anchorKey) int {
		return cmp.Or(strings.Compare(x.partition, y.partition), cmp.Compare(x.seq, y.seq))
	})
	k := keys[0]
	name, chain := anchorName(k, "", ""), "the trail"
	switch {
	case k.partition != "":
		chain = "the partition's chain"
	case plain == guard.SealPartition:
		name, chain = anchorName(anchorKey{plain, k.seq}, "", ""), "the seal chain"
	}
	return fmt.Errorf("%s: removed: --expect names it, but %s ends at Seq %d: records were cut off its end", name, chain, a.last[k.partition])
}

// auditProgress is audit verify's and export's progress line: the records
// done so far, *n (the total is not known before the walk).
func (a *App) auditProgress(cmd *cobra.Command, verb string, n *int) *progress {
	return a.newProgress(cmd.ErrOrStderr(), 0, func() string { return fmt.Sprintf("%s %d audit records", verb, *n) })
}
