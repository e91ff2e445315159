package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AuditHead is the last record of one partition's audit chain.
type AuditHead struct {
	Partition string    `json:"partition"`
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"` // the record's At
}

// SealKind is the Kind of a seal record (in SealPartition).
const SealKind = "seal"

// SealData is the Data of a seal record: the heads of the partitions whose
// chains moved since the seal before (sorted by partition, At left out), and
// MerkleRoot of them. Each seal chains to the one before it in SealPartition, so
// the seals put every sealed record of every partition in one global order
// without any appender of a partition taking a lock in common: only the timer
// (one instance) writes seals. Legacy, on the first seal of a migrated store, is
// the head of the single chain the store kept before partitions (verified when
// it was migrated).
type SealData struct {
	Heads  []AuditHead `json:"heads"`
	Root   string      `json:"root"`
	Legacy *AuditHead  `json:"legacy,omitempty"`
}

// NewSealData sorts heads by partition, drops their At, and computes the root.
func NewSealData(heads []AuditHead) SealData {
	hs := make([]AuditHead, len(heads))
	for i, h := range heads {
		hs[i] = AuditHead{Partition: h.Partition, Seq: h.Seq, Hash: h.Hash}
	}
	slices.SortFunc(hs, func(a, b AuditHead) int { return strings.Compare(a.Partition, b.Partition) })
	return SealData{Heads: hs, Root: MerkleRoot(hs)}
}

// MerkleRoot is the root of a binary Merkle tree over heads, in the order
// given (NewSealData sorts them by partition), as lowercase hex SHA-256:
//
//	leaf  = SHA-256(0x00 || netstring(Partition) || netstring(Seq in decimal) || netstring(Hash))
//	inner = SHA-256(0x01 || left || right)      (raw 32-byte digests)
//
// A level with an odd number of nodes carries its last node up unchanged. The
// root of no heads is SHA-256 of nothing. The 0x00 and 0x01 prefixes keep a
// leaf from ever being read as an inner node (RFC 6962, 2.1).
func MerkleRoot(heads []AuditHead) string {
	if len(heads) == 0 {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:])
	}
	level := make([][]byte, len(heads))
	for i, h := range heads {
		d := sha256.New()
		d.Write([]byte{0})
		for _, f := range []string{h.Partition, strconv.FormatInt(h.Seq, 10), h.Hash} {
			d.Write([]byte(strconv.Itoa(len(f)) + ":" + f + ","))
		}
		level[i] = d.Sum(nil)
	}
	for len(level) > 1 {
		var next [][]byte
		for i := 0; i+1 < len(level); i += 2 {
			d := sha256.New()
			d.Write([]byte{1})
			d.Write(level[i])
			d.Write(level[i+1])
			next = append(next, d.Sum(nil))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	return hex.EncodeToString(level[0])
}
