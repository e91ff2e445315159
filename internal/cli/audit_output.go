package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

// trailResult is what audit verify found, as --format json (one object) and
// csv (one row) print it: verified or not, and the counts.
type trailResult struct {
	Trail    string `json:"trail"`
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
	Records  int    `json:"records"`
	// Partitions is 0 for a trail kept before partitions (one chain).
	Partitions int `json:"partitions"`
	Seals      int `json:"seals"`
	// LastSeq and LastHash are the last seal's (the last record's, in a
	// trail kept before partitions): what --expect checks next time.
	LastSeq            int64  `json:"lastSeq,omitempty"`
	LastHash           string `json:"lastHash,omitempty"`
	UnsealedRecords    int64  `json:"unsealedRecords"`
	UnsealedPartitions int    `json:"unsealedPartitions"`
	Expected           int    `json:"expected"` // --expect hashes that match
}

var trailColumns = []column[trailResult]{
	{csv: "trail", cell: func(r trailResult) string { return r.Trail }},
	{csv: "verified", cell: func(r trailResult) string { return strconv.FormatBool(r.Verified) }},
	{csv: "error", cell: func(r trailResult) string { return r.Error }},
	{csv: "records", cell: func(r trailResult) string { return strconv.Itoa(r.Records) }},
	{csv: "partitions", cell: func(r trailResult) string { return strconv.Itoa(r.Partitions) }},
	{csv: "seals", cell: func(r trailResult) string { return strconv.Itoa(r.Seals) }},
	{csv: "lastSeq", cell: func(r trailResult) string { return strconv.FormatInt(r.LastSeq, 10) }},
	{csv: "lastHash", cell: func(r trailResult) string { return r.LastHash }},
	{csv: "unsealedRecords", cell: func(r trailResult) string { return strconv.FormatInt(r.UnsealedRecords, 10) }},
	{csv: "unsealedPartitions", cell: func(r trailResult) string { return strconv.Itoa(r.UnsealedPartitions) }},
	{csv: "expected", cell: func(r trailResult) string { return strconv.Itoa(r.Expected) }},
}

// trailFailed returns err, the reason the trail does not verify, after
// printing it as a result with --format json or csv (a program reads why on
// stdout; the exit status is 1 all the same).
func trailFailed(cmd *cobra.Command, trail string, err error) error {
	if f := formatOf(cmd); f != formatTable {
		_ = writeListing(cmd.OutOrStdout(), f, 0, []trailResult{{Trail: trail, Error: err.Error()}}, trailColumns, false)
	}
	return err
}
