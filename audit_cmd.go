package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and export the tamper-evident audit trail",
		Long: `The audit trail records every change the pipeline processed and every finding
transition, in one hash chain: each record carries the SHA-256 of its content and of the
record before it (see guard.AuditHash for the exact encoding), so that a record altered,
removed or inserted in the store breaks the chain where it happened.

Anyone with write access to the store could still rewrite the whole chain from some record
on, or cut records off its end. Keep the Seq and hash that verify prints (or an export) and
check them next time with verify --expect SEQ:HASH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditVerifyCommand(), newAuditExportCommand())
	return cmd
}

func newAuditVerifyCommand() *cobra.Command {
	var storeURL, file string
	var expect []string
	cmd := &cobra.Command{
		Use:   "verify [--store URL | --file FILE] [--expect SEQ:HASH]...",
		Short: "Walk the audit trail's hash chain and report the first record altered, removed or inserted",
		Long: `verify reads the audit trail in Seq order, from the store or from a file that
audit export wrote, and checks every record: Seqs run from 1 without gaps, each record's hash
matches its content, and each record's previous hash is the hash of the record before it.

An intact trail prints how many records verified and the last one's Seq and hash, and exits 0.
Otherwise it names the first bad record (its Seq, kind and subject, and why: altered, removed
or inserted) on stderr and exits 1.

--expect SEQ:HASH also requires record SEQ to have that hash, as noted at an earlier
verification: it catches a trail rewritten from some record on, or cut short.`,
		Example: "  exportguard audit verify --store sqlite:exportguard.db\n  exportguard audit verify --file trail.jsonl --expect 1200:9f86d081884c7d65...",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			anchors, err := parseAnchors(expect)
			if err != nil {
				return err
			}
			if file != "" && storeURL != "" {
				return errors.New("audit verify: give --store or --file, not both")
			}
			tr, err := openTrail(cmd.Context(), storeURL, file)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			defer tr.close()
			return verifyTrail(cmd, tr, anchors)
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVar(&file, "file", "", "verify this file, as audit export wrote it (JSON lines), instead of a store")
	cmd.Flags().StringArrayVar(&expect, "expect", nil, "SEQ:HASH: record SEQ must have this hash (repeatable)")
	return cmd
}

// verifyTrail walks the trail through an AuditVerifier and the anchors, and
// prints the result.
func verifyTrail(cmd *cobra.Command, tr *trail, anchors anchors) error {
	prog := newProgress(cmd.ErrOrStderr(), "verified")
	defer prog.done()
	// One chain per partition (issue 15; the auditcli branch rewrites this
	// command): each partition's records through a verifier of its own.
	var v guard.AuditVerifier
	part, total := "", 0
	err := tr.each(func(rec guard.AuditRecord) error {
		if rec.Partition != part {
			part, total, v = rec.Partition, total+v.Verified(), guard.AuditVerifier{}
		}
		if err := v.Add(rec); err != nil {
			return err
		}
		if err := anchors.check(rec); err != nil {
			return err
		}
		prog.tick(total + v.Verified())
		return nil
	})
	prog.done()
	last := v.Last()
	var ae *guard.AuditError
	switch {
	case errors.As(err, &ae):
		return fmt.Errorf("audit trail of %s does not verify: %w; the %d record(s) before it verify", tr.name, err, ae.Verified)
	case errors.Is(err, errAnchor):
		return fmt.Errorf("audit trail of %s does not verify: %w; the %d record(s) before it verify", tr.name, err, v.Verified()-1)
	case err != nil:
		return fmt.Errorf("audit verify %s: %w", tr.name, err)
	}
	if err := anchors.missing(last.Seq); err != nil {
		return fmt.Errorf("audit trail of %s does not verify: %w", tr.name, err)
	}
	out := cmd.OutOrStdout()
	if total+v.Verified() == 0 {
		fmt.Fprintf(out, "%s: the audit trail is empty: 0 records verified\n", tr.name)
		return nil
	}
	fmt.Fprintf(out, "%s: %d audit record(s) verified, Seq 1 to %d; last hash %s\n", tr.name, total+v.Verified(), last.Seq, last.Hash)
	if len(anchors) > 0 {
		fmt.Fprintf(out, "%d expected hash(es) match\n", len(anchors))
	}
	return nil
}

func newAuditExportCommand() *cobra.Command {
	var storeURL, output string
	cmd := &cobra.Command{
		Use:   "export [--store URL] [-o FILE]",
		Short: "Write the audit trail as JSON lines, one record per line in Seq order, for an auditor",
		Long: `export writes every audit record, in Seq order, as one JSON object per line:
{"seq":…,"at":…,"kind":…,"subject":…,"data":…,"prevHash":…,"hash":…}, for an auditor.
audit verify --file checks such a file; anyone can also recompute the hashes. A record's hash
is the SHA-256, in lowercase hex, of seven netstrings (LENGTH:BYTES, with LENGTH in decimal):
"exportguard.audit.v1", seq in decimal, at, kind, subject, data and prevHash ("" for the first
record), where "at" and "data" are the exact bytes of the line: "at" is written in UTC as the
hash covers it, and "data" (absent when empty) verbatim, byte for byte as the store keeps it,
between ,"data": and ,"prevHash":.

With -o the file is written whole or not at all; without, the lines go to stdout. A summary
(how many records, the last hash) goes to stderr. export does not verify: run audit verify.`,
		Example: "  exportguard audit export --store sqlite:exportguard.db -o trail.jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tr, err := openTrail(cmd.Context(), storeURL, "")
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer tr.close()
			w, commit, abort, err := exportWriter(cmd.OutOrStdout(), output)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer abort()
			prog := newProgress(cmd.ErrOrStderr(), "exported")
			defer prog.done()
			var n int
			var first, last guard.AuditRecord
			err = tr.each(func(rec guard.AuditRecord) error {
				line, err := auditLine(rec)
				if err != nil {
					return err
				}
				if _, err := w.Write(line); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				if n == 0 {
					first = rec
				}
				n, last = n+1, rec
				prog.tick(n)
				return nil
			})
			if err == nil {
				err = commit()
			}
			prog.done()
			if err != nil {
				return fmt.Errorf("audit export %s: %w", tr.name, err)
			}
			dest := "stdout"
			if output != "" {
				dest = output
			}
			summary := fmt.Sprintf("exported %d audit record(s) of %s to %s", n, tr.name, dest)
			if n > 0 {
				summary += fmt.Sprintf(", Seq %d to %d; last hash %s", first.Seq, last.Seq, last.Hash)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), summary)
			return nil
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", storeFlagHelp)
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of stdout")
	return cmd
}

// trail is where a trail is read from: a store, or a file audit export wrote.
type trail struct {
	name string // for messages
	// each calls fn for each record in order, and stops at fn's first error.
	each  func(fn func(guard.AuditRecord) error) error
	close func()
}

// openTrail opens the file when one is named, the store otherwise.
func openTrail(ctx context.Context, storeURL, file string) (*trail, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		return &trail{name: file, each: func(fn func(guard.AuditRecord) error) error { return readAuditLines(f, fn) },
			close: func() { f.Close() }}, nil
	}
	if storeURL == "" {
		storeURL = envOr(envStore, defaultStore)
	}
	st, err := openExistingStore(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	return &trail{name: storeURL, each: func(fn func(guard.AuditRecord) error) error { return walkAudit(ctx, st, fn) },
		close: func() { st.Close() }}, nil
}

// openExistingStore opens a store that must exist already: audit reads a trail,
// so a sqlite: path that names no file is a mistake (opening it would create an
// empty store that verifies), and memory: holds nothing.
func openExistingStore(ctx context.Context, url string) (guard.Store, error) {
	scheme, rest, _ := strings.Cut(url, ":")
	switch {
	case scheme == "memory" || scheme == "sqlite" && rest == ":memory:":
		return nil, fmt.Errorf("store %s: an in-memory store holds no trail between runs; name a sqlite:PATH or cosmos: store", url)
	case scheme == "sqlite" && rest != "":
		if _, err := os.Stat(rest); err != nil {
			return nil, fmt.Errorf("store %s: %w (audit reads an existing store)", url, err)
		}
	}
	st, err := openStore(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// walkAudit calls fn for each record of the trail, partition by partition
// (AuditHeads), each in Seq order, reading it a page at a time.
func walkAudit(ctx context.Context, st guard.Audit, fn func(guard.AuditRecord) error) error {
	heads, err := st.AuditHeads(ctx, time.Time{})
	if err != nil {
		return err
	}
	for _, h := range heads {
		after := int64(0)
		for {
			page, err := st.ListAudit(ctx, h.Partition, after, auditPage)
			if err != nil {
				return err
			}
			for _, rec := range page {
				if err := fn(rec); err != nil {
					return err
				}
			}
			if len(page) == 0 {
				break
			}
			last := page[len(page)-1].Seq
			if last <= after {
				return fmt.Errorf("the store listed Seq %d after %d in %s", last, after, h.Partition)
			}
			after = last
		}
	}
	return nil
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

// auditLine is rec as one line of an export: the fields of guard.AuditRecord,
// with At in UTC as the hash covers it, and Data verbatim, since its bytes are
// hashed (encoding/json would compact and escape it). A Data that is not JSON
// on one line cannot be written so, and is an error naming the record.
func auditLine(rec guard.AuditRecord) ([]byte, error) {
	if len(rec.Data) > 0 && (!json.Valid(rec.Data) || bytes.ContainsAny(rec.Data, "\r\n")) {
		return nil, fmt.Errorf("record %d (%s %s): its data is not JSON on one line, so it cannot be exported verbatim", rec.Seq, rec.Kind, rec.Subject)
	}
	var b bytes.Buffer
	b.WriteString(`{"seq":`)
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
	fmt.Fprintf(b, `,"%s":%s`, name, v)
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

// anchors are the hashes --expect requires, by Seq.
type anchors map[int64]string

func parseAnchors(flags []string) (anchors, error) {
	a := anchors{}
	for _, f := range flags {
		seqText, hash, ok := strings.Cut(f, ":")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || seq < 1 || len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
			return nil, fmt.Errorf("--expect %q: want SEQ:HASH, a Seq from 1 and a hash of 64 hex digits, as audit verify prints them", f)
		}
		a[seq] = strings.ToLower(hash)
	}
	return a, nil
}

// check reports a record that --expect gave another hash.
func (a anchors) check(rec guard.AuditRecord) error {
	if want, ok := a[rec.Seq]; ok && rec.Hash != want {
		return fmt.Errorf("audit record %d (%s %s): %w: its hash is %s, --expect says %s: the trail was rewritten at or before it",
			rec.Seq, rec.Kind, rec.Subject, errAnchor, rec.Hash, want)
	}
	return nil
}

// missing reports the first Seq --expect gave that lies beyond the trail's end.
func (a anchors) missing(last int64) error {
	first := int64(0)
	for seq := range a {
		if seq > last && (first == 0 || seq < first) {
			first = seq
		}
	}
	if first == 0 {
		return nil
	}
	return fmt.Errorf("audit record %d: removed: --expect names it, but the trail ends at Seq %d: records were cut off its end", first, last)
}

// progress shows a count on stderr when stderr is a terminal.
type progress struct {
	w     io.Writer
	verb  string
	shown bool
}

func newProgress(w io.Writer, verb string) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return &progress{w: w, verb: verb}
}

func (p *progress) tick(n int) {
	if p.w != nil && n%auditPage == 0 {
		fmt.Fprintf(p.w, "\r%s %d audit records", p.verb, n)
		p.shown = true
	}
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
