package cli

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// Progress goes to a terminal only: not to a buffer, a file, or /dev/null
// (a character device, which a file-mode check took for a terminal).
func TestIsTerminal(t *testing.T) {
	t.Parallel()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
	}{
		{"buffer", &bytes.Buffer{}},
		{"file", file},
		{"/dev/null", devNull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if isTerminal(tc.w) {
				t.Fatalf("isTerminal(%s) = true", tc.name)
			}
		})
	}
}
