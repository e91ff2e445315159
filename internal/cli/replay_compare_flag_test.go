package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// replay --policy NEW --compare OLD is the what-if, and nothing else: the
// same output as the what-if itself, and no store, hub or app to send to.
func TestReplayCompareFlag(t *testing.T) {
	t.Parallel()
	args := []string{"--policy", "testdata/whatif/new.yaml", "--compare", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson"}
	for _, format := range []string{"table", "json"} {
		got, gotErr, err := run(t, append([]string{"replay", "--format", format}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr, err := whatIf(t, format, "testdata/whatif/new.yaml", "testdata/whatif/old.yaml", "testdata/sessions/storage-replication.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		if got != want || gotErr != wantErr || !strings.Contains(got, "itardrawings") {
			t.Errorf("replay --format %s --compare: %q / %q, want %q / %q", format, got, gotErr, want, wantErr)
		}
	}
	for _, tt := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--store", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, "if any flags in the group [compare store] are set none of the others can be; [compare store] were all set"},
		{[]string{"--via", "http://127.0.0.1:1"}, "if any flags in the group [compare via] are set none of the others can be; [compare via] were all set"},
		{[]string{"--to-eventhub", "ns/hub"}, "if any flags in the group [compare to-eventhub] are set none of the others can be; [compare to-eventhub] were all set"},
	} {
		if _, _, err := run(t, append(append([]string{"replay"}, tt.extra...), args...)...); err == nil || err.Error() != tt.want {
			t.Errorf("replay %s --compare: err = %v, want %q", tt.extra[0], err, tt.want)
		}
	}
	if out, _, err := run(t, "replay", "--help"); err != nil || !strings.Contains(out, "--compare") {
		t.Errorf("replay --help does not tell of --compare: %v", err)
	}
}
