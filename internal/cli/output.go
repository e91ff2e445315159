package cli

// One output layer for every verb that prints findings or checks: --format
// table for a person (names, not whole ARM IDs, fitted to the terminal), json
// (one object per line) and csv (RFC 4180, a header row, the full resource ID)
// for programs and spreadsheets.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// outputFormat is a --format value. Its Set refuses a value that is none of
// the formats, so cobra refuses the command line (exit 2) naming them.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
	formatCSV   outputFormat = "csv"
)

var outputFormats = []outputFormat{formatTable, formatJSON, formatCSV}

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "table|json|csv" }
func (f *outputFormat) Set(v string) error {
	if !slices.Contains(outputFormats, outputFormat(v)) {
		return fmt.Errorf("want table, json or csv")
	}
	*f = outputFormat(v)
	return nil
}

// addFormatFlag adds --format (default table) to cmd; rows says what json and
// csv print one of per line, for the help.
func addFormatFlag(cmd *cobra.Command, f *outputFormat, rows string) {
	*f = formatTable
	cmd.Flags().Var(f, "format", "output format: table (for a person), json (one "+rows+" per line) or csv (a header row, then one "+rows+" per row)")
}

// column is one column of a listing: its header in the table and in csv
// (empty: not in that format) and its cell.
type column[T any] struct {
	table, csv string
	cell       func(T) string
}

// writeListing writes items in format f: json one item per line, csv the
// columns with a csv header, table the columns with a table header, fitted to
// width (0: no limit). wrap wraps the table's last column instead of cutting
// it short.
func writeListing[T any](w io.Writer, f outputFormat, width int, items []T, cols []column[T], wrap bool) error {
	switch f {
	case formatJSON:
		return writeJSONLines(w, items)
	case formatCSV:
		cw := csv.NewWriter(w)
		var head []string
		for _, c := range cols {
			if c.csv != "" {
				head = append(head, c.csv)
			}
		}
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, it := range items {
			row := make([]string, 0, len(head))
			for _, c := range cols {
				if c.csv != "" {
					row = append(row, c.cell(it))
				}
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	var head []string
	for _, c := range cols {
		if c.table != "" {
			head = append(head, c.table)
		}
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		row := make([]string, 0, len(head))
		for _, c := range cols {
			if c.table != "" {
				row = append(row, c.cell(it))
			}
		}
		rows = append(rows, row)
	}
	return writeTable(w, width, head, rows, wrap)
}

// writeJSONLines writes each item as one JSON object on a line, HTML left
// unescaped.
func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// tableGap is the space between two columns of a table.
const tableGap = 2

// writeTable writes head and rows as aligned columns. With width > 0 every
// line fits in it: the widest columns are cut short with an ellipsis (or,
// with wrap, the last column wraps under itself), and a line that still does
// not fit (more columns than width) is cut. Cells are shown on one line,
// control characters (a terminal's escape sequences) replaced.
func writeTable(w io.Writer, width int, head []string, rows [][]string, wrap bool) error {
	all := append([][]string{head}, rows...)
	n := len(head)
	natural := make([]int, n)
	for _, r := range all {
		for i := range r {
			r[i] = oneLineCell(r[i])
			natural[i] = max(natural[i], utf8.RuneCountInString(r[i]))
		}
	}
	widths := fitColumns(natural, width)
	var b strings.Builder
	for _, r := range all {
		lines := [][]string{r}
		if wrap && width > 0 && n > 0 {
			lines = wrapLast(r, widths[n-1])
		}
		for _, l := range lines {
			b.Reset()
			for i, cell := range l {
				cell = cutCell(cell, widths[i])
				b.WriteString(cell)
				if i < n-1 {
					b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+tableGap))
				}
			}
			line := strings.TrimRight(b.String(), " ")
			if width > 0 && utf8.RuneCountInString(line) > width {
				line = cutCell(line, width)
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// minLastColumn is the least width the last column (a message, a note) keeps
// before the others are cut: this, or a quarter of the table's width.
const minLastColumn = 20

// fitColumns narrows the natural widths to fit width. The last column (the
// message, the note) gives way first, down to minLastColumn or a quarter of
// the width; then the others
// are capped at the largest cap that fits, so short columns keep their width
// and long ones share what is left.
func fitColumns(natural []int, width int) []int {
	n := len(natural)
	total := tableGap * max(n-1, 0)
	for _, w := range natural {
		total += w
	}
	if width <= 0 || total <= width || n == 0 {
		return natural
	}
	out := slices.Clone(natural)
	avail := width - tableGap*(n-1)
	others := total - tableGap*(n-1) - natural[n-1]
	last := min(natural[n-1], max(minLastColumn, width/4))
	if avail-others >= last {
		out[n-1] = avail - others
		return out
	}
	out[n-1] = last
	avail -= last
	capped := func(c int) int {
		sum := 0
		for _, w := range natural[:n-1] {
			sum += min(w, c)
		}
		return sum
	}
	lo, hi := 1, slices.Max(natural) // capped(lo) may not fit: then the line is cut
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if capped(mid) <= avail {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	left := avail - capped(lo)
	for i := range n - 1 {
		out[i] = min(natural[i], lo)
		if left > 0 && natural[i] > out[i] { // what the cap leaves over
			out[i]++
			left--
		}
	}
	return out
}

// cutCell cuts s to at most w runes, ending it with an ellipsis when cut.
func cutCell(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

// wrapLast splits row into lines whose last cell is at most w runes (see
// wrapWords); the other cells are empty on the lines after the first.
func wrapLast(row []string, w int) [][]string {
	n := len(row)
	parts := wrapWords(row[n-1], w)
	out := make([][]string, len(parts))
	for i, p := range parts {
		r := make([]string, n)
		if i == 0 {
			copy(r, row)
		}
		r[n-1] = p
		out[i] = r
	}
	return out
}

// wrapWords breaks s into lines of at most w runes at spaces; a word longer
// than w is left whole, for the caller to cut.
func wrapWords(s string, w int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// oneLineCell is s on one line, with no control character: a resource name or
// message cannot move the cursor or colour the terminal.
func oneLineCell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
}

// defaultTableWidth is the width of a terminal whose size cannot be read.
const defaultTableWidth = 120

// tableWidth is the width a table on w must fit: the terminal's when w is a
// terminal (else $COLUMNS, else 120); in a pipe or file $COLUMNS when it is
// set, and otherwise none (0): cells are written whole.
func (a *App) tableWidth(w io.Writer) int {
	columns, err := strconv.Atoi(strings.TrimSpace(a.getenv("COLUMNS")))
	if err != nil || columns <= 0 {
		columns = 0
	}
	if !isTerminal(w) {
		return columns
	}
	if c, ok := w.(*clearing); ok {
		w = c.w
	}
	if f, ok := w.(*os.File); !ok {
		return columns
	} else if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
		return width
	}
	if columns > 0 {
		return columns
	}
	return defaultTableWidth
}

// resourceName is the name ARM gives the resource an ID names: the names
// after the last /providers/ (a child's is PARENT/CHILD), else the ID's last
// segment (a resource group, a subscription).
func resourceName(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	last := -1
	for i, s := range segs {
		if strings.EqualFold(s, "providers") {
			last = i
		}
	}
	if last < 0 || last+3 > len(segs) {
		return segs[len(segs)-1]
	}
	var names []string
	for i := last + 3; i < len(segs); i += 2 { // NAMESPACE/TYPE/NAME[/TYPE/NAME]...
		names = append(names, segs[i])
	}
	if len(names) == 0 {
		return segs[len(segs)-1]
	}
	return strings.Join(names, "/")
}

// resourceGroup is the resource group an ID names; "" for one outside any
// (a subscription, a subscription's role assignment).
func resourceGroup(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "resourceGroups") {
			return segs[i+1]
		}
	}
	return ""
}

// orDash is s, or "-" for an empty table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatOf is the --format cmd was given: table when it has none.
func formatOf(cmd *cobra.Command) outputFormat {
	if fl := cmd.Flags().Lookup("format"); fl != nil {
		if f, ok := fl.Value.(*outputFormat); ok {
			return *f
		}
	}
	return formatTable
}
