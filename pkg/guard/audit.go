package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// auditHashVersion names the encoding AuditHash hashes. It is hashed first, so
// that a later encoding can never produce the hash of a record in this one.
// Version 2 (a record of a partition's chain) also covers Partition; a record
// without one is of the single chain stores kept before partitions (version 1),
// which migrated stores and old exports still hold.
const (
	auditHashVersion1 = "exportguard.audit.v1"
	auditHashVersion2 = "exportguard.audit.v2"
)

// AuditHash returns the hash a record's Hash must equal: the SHA-256, in
// lowercase hex, of these fields, each written as a netstring (its length in
// bytes in decimal, ":", its bytes, ","), in this order:
//
//	"exportguard.audit.v2"                  ("exportguard.audit.v1" for a record without a Partition)
//	Partition                               (not written at all for a record without one)
//	Seq in decimal                          e.g. "42"
//	At in UTC as RFC 3339 with nanoseconds  time.RFC3339Nano: "2025-03-14T07:26:53.589793Z"
//	                                        (no trailing zeros in the fraction, none at all on a whole second)
//	Kind
//	Subject
//	Data, its bytes as stored               "" when there is none
//	PrevHash                                "" for the first record
//
// Hash itself is not covered. The length prefixes make the encoding
// unambiguous whatever bytes the fields hold, and it is easy to recompute
// elsewhere. In Python, for a line of `exportguard audit export` (which writes
// at as above and data verbatim, so data's bytes are taken from the line):
//
//	ns = lambda b: str(len(b)).encode() + b":" + b + b","
//	r = json.loads(line)
//	data = line[line.index(b',"data":') + 8:line.rindex(b',"prevHash":')] if b',"data":' in line else b""
//	v = ns(b"exportguard.audit.v2") + ns(r["partition"].encode()) if r.get("partition") else ns(b"exportguard.audit.v1")
//	sha256(v + ns(str(r["seq"]).encode()) + ns(r["at"].encode()) + ns(r["kind"].encode()) +
//	       ns(r["subject"].encode()) + ns(data) + ns(r["prevHash"].encode())).hexdigest() == r["hash"]
func AuditHash(rec AuditRecord) string {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(strconv.AppendInt(nil, int64(len(b)), 10))
		h.Write([]byte{':'})
		h.Write(b)
		h.Write([]byte{','})
	}
	if rec.Partition == "" {
		field([]byte(auditHashVersion1))
	} else {
		field([]byte(auditHashVersion2))
		field([]byte(rec.Partition))
	}
	field(strconv.AppendInt(nil, rec.Seq, 10))
	field([]byte(rec.At.UTC().Format(time.RFC3339Nano)))
	field([]byte(rec.Kind))
	field([]byte(rec.Subject))
	field(rec.Data)
	field([]byte(rec.PrevHash))
	return hex.EncodeToString(h.Sum(nil))
}

// SealAudit returns rec as a store keeps it under this Seq, after the record
// whose Hash is prevHash ("" for Seq 1): At in UTC without a monotonic clock
// reading, Seq, PrevHash and Hash set.
func SealAudit(rec AuditRecord, seq int64, prevHash string) AuditRecord {
	rec.At = rec.At.UTC().Round(0)
	rec.Seq, rec.PrevHash = seq, prevHash
	rec.Hash = AuditHash(rec)
	return rec
}

// AuditProblem is what is wrong with a trail where verification stopped.
type AuditProblem string

const (
	// AuditAltered: a record's Hash does not match its content.
	AuditAltered AuditProblem = "altered"
	// AuditRemoved: Seqs are missing (Seqs run from 1 without gaps).
	AuditRemoved AuditProblem = "removed"
	// AuditInserted: a record does not chain to the one before it (its PrevHash
	// is not that record's Hash), or its Seq repeats or goes back.
	AuditInserted AuditProblem = "inserted"
)

// AuditError is the first problem VerifyAudit or an AuditVerifier found.
type AuditError struct {
	// Seq is the Seq of the bad record; for AuditRemoved, the first missing one.
	Seq int64
	// Kind and Subject are those of the record where the problem shows: for
	// AuditRemoved, the first record after the gap ("" when the records were
	// cut off the chain's end).
	Kind, Subject string
	Problem       AuditProblem
	// Reason says why, in a sentence.
	Reason string
	// Verified is how many records before it verified.
	Verified int
}

func (e *AuditError) Error() string {
	if e.Problem == AuditRemoved && e.Kind == "" && e.Subject == "" { // nothing after the gap: cut off the end
		return fmt.Sprintf("audit record %d: %s: %s", e.Seq, e.Problem, e.Reason)
	}
	if e.Problem == AuditRemoved {
		return fmt.Sprintf("audit record %d: %s: %s (the next record there is %s %s)", e.Seq, e.Problem, e.Reason, e.Kind, e.Subject)
	}
	return fmt.Sprintf("audit record %d (%s %s): %s: %s", e.Seq, e.Kind, e.Subject, e.Problem, e.Reason)
}

// AuditVerifier checks a trail record by record, in the order it is read, so
// that a long trail can be checked page by page. The zero value expects a trail
// from its first record (Seq 1).
type AuditVerifier struct {
	n    int
	last AuditRecord // the last record that verified; Seq 0 before the first
	err  *AuditError
}

// Add checks the next record: its Seq follows the last one's, its Hash is
// AuditHash of its content, and its PrevHash is the last one's Hash, in that
// order, so that a removed record is reported as removed rather than as the
// broken link it also leaves. It returns an *AuditError for the first record
// that fails, and the same error for every record after it.
func (v *AuditVerifier) Add(rec AuditRecord) error {
	if v.err != nil {
		return v.err
	}
	if e := v.check(rec); e != nil {
		e.Kind, e.Subject, e.Verified = rec.Kind, rec.Subject, v.n
		v.err = e
		return e
	}
	v.n++
	v.last = rec
	return nil
}

func (v *AuditVerifier) check(rec AuditRecord) *AuditError {
	prev := v.last
	switch want := prev.Seq + 1; {
	case rec.Seq < want && v.n == 0:
		return &AuditError{Seq: rec.Seq, Problem: AuditInserted, Reason: fmt.Sprintf("Seq %d is not a Seq of the trail, which starts at 1", rec.Seq)}
	case rec.Seq == prev.Seq:
		return &AuditError{Seq: rec.Seq, Problem: AuditInserted, Reason: fmt.Sprintf("Seq %d repeats", rec.Seq)}
	case rec.Seq < want:
		return &AuditError{Seq: rec.Seq, Problem: AuditInserted, Reason: fmt.Sprintf("Seq %d comes after Seq %d, out of order", rec.Seq, prev.Seq)}
	case rec.Seq > want && v.n == 0:
		return &AuditError{Seq: want, Problem: AuditRemoved, Reason: fmt.Sprintf("the trail starts at Seq %d, so %s missing", rec.Seq, missing(want, rec.Seq-1))}
	case rec.Seq > want:
		return &AuditError{Seq: want, Problem: AuditRemoved, Reason: fmt.Sprintf("Seq jumps from %d to %d, so %s missing", prev.Seq, rec.Seq, missing(want, rec.Seq-1))}
	}
	if got := AuditHash(rec); rec.Hash != got {
		return &AuditError{Seq: rec.Seq, Problem: AuditAltered, Reason: fmt.Sprintf("its hash does not match its content (stored %s, computed %s)", short(rec.Hash), short(got))}
	}
	if rec.PrevHash != prev.Hash {
		if rec.Seq == 1 {
			return &AuditError{Seq: rec.Seq, Problem: AuditInserted, Reason: fmt.Sprintf("the first record's PrevHash must be empty, not %s", short(rec.PrevHash))}
		}
		return &AuditError{Seq: rec.Seq, Problem: AuditInserted, Reason: fmt.Sprintf(
			"its PrevHash %s is not the hash %s of record %d before it: this record was put in, or record %d was altered and given a new hash",
			short(rec.PrevHash), short(prev.Hash), prev.Seq, prev.Seq)}
	}
	return nil
}

// Verified returns how many records have verified.
func (v *AuditVerifier) Verified() int { return v.n }

// Last returns the last record that verified (the zero record before any).
func (v *AuditVerifier) Last() AuditRecord { return v.last }

// VerifyAudit checks a whole trail, in the order given (Seq order, from Seq
// 1), and returns an *AuditError naming the first record that was altered,
// removed or inserted, or nil. It cannot see records removed from the end of
// the trail: compare the last Seq and Hash with those noted at an earlier
// verification for that.
func VerifyAudit(recs []AuditRecord) error {
	var v AuditVerifier
	for _, rec := range recs {
		if err := v.Add(rec); err != nil {
			return err
		}
	}
	return nil
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is", from)
	}
	return fmt.Sprintf("records %d to %d are", from, to)
}

// short abbreviates a hash for messages; 16 hex digits tell hashes apart.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
