package cosmostest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Counts is what the local server counted (pkg/cosmos/testdata/cosmosdb-server.js,
// GET /_counts): every request it received since it started or was last
// reset, except those to /_counts itself. A transactional batch is one
// request; its operations are counted in BatchOps.
type Counts struct {
	Requests int64            `json:"requests"`
	ByMethod map[string]int64 `json:"byMethod"` // by HTTP method: GET, POST, PUT, PATCH, DELETE
	// ByKind splits POST as the server routes it: POST (create), POST_QUERY,
	// POST_UPSERT, POST_BATCH; other methods are their method.
	ByKind   map[string]int64 `json:"byKind"`
	BytesIn  int64            `json:"bytesIn"`  // request body bytes (headers not counted)
	BytesOut int64            `json:"bytesOut"` // response body bytes (headers not counted)
	// Batches are the atomic transactional batches whose body was a JSON
	// array (refused ones too: over 100 operations, over 2 MB), BatchOps the
	// operations in them.
	Batches  int64 `json:"batches"`
	BatchOps int64 `json:"batchOps"`
}

// ReadCounts returns the counts of the server at endpoint.
func ReadCounts(ctx context.Context, endpoint string) (Counts, error) {
	return counts(ctx, http.MethodGet, endpoint, "_counts")
}

// ResetCounts sets the counts of the server at endpoint to zero and returns
// them as they were just before, so that reading and resetting lose nothing
// in between.
func ResetCounts(ctx context.Context, endpoint string) (Counts, error) {
	return counts(ctx, http.MethodPost, endpoint, "_counts/reset")
}

func counts(ctx context.Context, method, endpoint, path string) (Counts, error) {
	url := strings.TrimSuffix(endpoint, "/") + "/" + path
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return Counts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Counts{}, fmt.Errorf("local server counts: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Counts{}, fmt.Errorf("local server counts: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Counts{}, fmt.Errorf("local server counts: %s %s: HTTP %d: %s", method, url, resp.StatusCode, body)
	}
	var c Counts
	if err := json.Unmarshal(body, &c); err != nil {
		return Counts{}, fmt.Errorf("local server counts: %s %s: %w: %s", method, url, err, body)
	}
	return c, nil
}
