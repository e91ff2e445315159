package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/exportguard/exportguard/bench"
)

// The Cosmos DB part of the table: requests per change counted at the local
// server, and pipelines at once on one database.

// cosmosTargets are issue 15's Cosmos DB figures, met or not. The
// dispatcher's outbox query, one per delivery whatever the delivery holds, is
// counted in the requests and named apart: it is a cost of the delivery, not
// of its records.
func cosmosTargets(c *bench.CosmosResults) []Target {
	j, d, n := c.Judged, c.Duplicate, c.Unjudged
	var scale []string
	failed, agree := 0, true
	for _, r := range c.Scale {
		scale = append(scale, fmt.Sprintf("%d: %.0f records/s (%.2fx)", r.Pipelines, r.PerSec, r.PerSec/nonzero(c.Scale[0].PerSec)))
		failed += r.Failed
		agree = agree && r.FindingsAgree
	}
	return []Target{
		{Goal: "Cosmos DB: at most 3 requests per judged change",
			Measured: fmt.Sprintf("%.2f: %.2f point read + %.2f transactional batch (%.1f operations) + %.2f outbox query (the dispatcher's, one per delivery of 100 records); %.0f bytes written, %.0f read per change",
				j.Requests, j.Reads, j.Batches, j.BatchOps, j.Queries, j.BytesIn, j.BytesOut),
			Value: j.Requests, Met: j.Requests <= 3},
		{Goal: "Cosmos DB: at most 1 request per duplicate",
			Measured: fmt.Sprintf("%.2f point read, %.2f writes; %.2f with the delivery's outbox query", d.Reads, d.Batches, d.Requests),
			Value:    d.Requests - d.Queries, Met: d.Requests-d.Queries <= 1 && d.Batches == 0},
		{Goal: "Cosmos DB: no request for a record no rule judges",
			Measured: fmt.Sprintf("%.2f reads, %.2f writes; %.3f with the delivery's outbox query", n.Reads, n.Batches, n.Requests),
			Value:    n.Requests - n.Queries, Met: n.Requests-n.Queries == 0},
		{Goal: "Cosmos DB: 1, 4 and 8 pipelines at once on one database, 0 failures, findings as a serial run's",
			Measured: fmt.Sprintf("%d failed deliveries, findings agree: %v; records/s with %s (one single-threaded node server on this 2-core machine)", failed, agree, strings.Join(scale, ", ")),
			Value:    float64(failed), Met: failed == 0 && agree && len(c.Scale) > 0},
	}
}

func printCosmos(out io.Writer, c *bench.CosmosResults) {
	fmt.Fprintf(out, "\nCosmos DB: %s\nsession: %s\n", c.Server, c.Session)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "per\tcount\trequests\tpoint reads\tbatches\tbatch ops\tqueries\tbytes written\tbytes read\t")
	for _, p := range []bench.PerUnit{c.Judged, c.Duplicate, c.Unjudged} {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.0f\t%.0f\t\n", p.Per, p.Count, p.Requests, p.Reads, p.Batches, p.BatchOps, p.Queries, p.BytesIn, p.BytesOut)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\npipelines at once\trecords\tjudged\tseconds\trec/s\tratio to 1\trec/s per pipeline\trequests\tfailed\tfindings\tas serial\t")
	for _, r := range c.Scale {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.0f\t%d\t%d\t%d\t%v\t\n", r.Pipelines, r.Records, r.Judged, r.Seconds, r.PerSec,
			r.PerSec/nonzero(c.Scale[0].PerSec), r.PerPipeline, r.Requests, r.Failed, r.Findings, r.FindingsAgree)
	}
	tw.Flush()
	for _, r := range c.Scale {
		for _, e := range r.Errors {
			fmt.Fprintln(out, "  ", e)
		}
	}
}

func markdownCosmos(b *strings.Builder, c *bench.CosmosResults) {
	fmt.Fprintf(b, "\nCosmos DB, %s. Session: %s.\n\n", c.Server, c.Session)
	b.WriteString("| per | count | requests | point reads | transactional batches (operations) | queries | bytes written | bytes read |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range []bench.PerUnit{c.Judged, c.Duplicate, c.Unjudged} {
		fmt.Fprintf(b, "| %s | %d | %.2f | %.2f | %.2f (%.1f) | %.3f | %.0f | %.0f |\n", p.Per, p.Count, p.Requests, p.Reads, p.Batches, p.BatchOps, p.Queries, p.BytesIn, p.BytesOut)
	}
	b.WriteString("\n| pipelines at once (one database, one single-threaded node server, 2 cores shared with the pipelines) | records | seconds | records/s | ratio to 1 | records/s per pipeline | failed deliveries | findings as a serial run's |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range c.Scale {
		agree := "yes"
		if !r.FindingsAgree {
			agree = "**no**"
		}
		fmt.Fprintf(b, "| %d | %d | %.2f | %.0f | %.2f | %.0f | %d | %s (%d) |\n", r.Pipelines, r.Records, r.Seconds, r.PerSec,
			r.PerSec/nonzero(c.Scale[0].PerSec), r.PerPipeline, r.Failed, agree, r.Findings)
	}
}
