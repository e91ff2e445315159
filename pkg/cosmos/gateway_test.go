package cosmos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// gatewayRules is a transport that answers 400, as the Cosmos DB Gateway does,
// to a cross-partition query that needs more than filtering and projection. The
// local server runs any query; without this check a store could sort across
// partitions in its tests and fail in Azure.
type gatewayRules struct{ next policy.Transporter }

var gatewayOnlyClauses = regexp.MustCompile(`(?i)\b(ORDER\s+BY|TOP|OFFSET|DISTINCT|GROUP\s+BY|COUNT|SUM|MIN|MAX|AVG)\b`)

func (g gatewayRules) Do(req *http.Request) (*http.Response, error) {
	if sql, ok := crossPartitionQuery(req); ok && gatewayOnlyClauses.MatchString(sql) {
		return response(req, http.StatusBadRequest, nil,
			fmt.Sprintf(`{"code":"BadRequest","message":"the Gateway cannot serve this cross-partition query: %s"}`,
				strings.ReplaceAll(sql, `"`, `'`))), nil
	}
	return g.next.Do(req)
}

// crossPartitionQuery returns the SQL of a query request sent to every
// partition (no partition key, or an empty one).
func crossPartitionQuery(req *http.Request) (string, bool) {
	if req.Method != http.MethodPost || req.Header.Get("x-ms-documentdb-query") == "" {
		return "", false
	}
	if pk := req.Header.Get("x-ms-documentdb-partitionkey"); pk != "" && pk != "[]" {
		return "", false
	}
	body, err := readBody(req)
	if err != nil {
		return "", false
	}
	var q struct {
		Query string `json:"query"`
	}
	json.Unmarshal(body, &q)
	return q.Query, true
}

// readBody reads a request's body and puts it back.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// clientOptions are azcosmos options with this transport.
func clientOptions(t policy.Transporter) azcosmos.ClientOptions {
	return azcosmos.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: t}}
}

// TestGatewayRulesRefuseCrossPartitionOrderBy checks the check: the store's
// tests would prove nothing about cross-partition queries if it let ORDER BY
// through.
func TestGatewayRulesRefuseCrossPartitionOrderBy(t *testing.T) {
	s := openTest(t)
	for _, tc := range []struct {
		sql     string
		pk      azcosmos.PartitionKey
		refused bool
	}{
		{"SELECT * FROM c WHERE c.idKey = 'x'", crossPartition, false},
		{"SELECT * FROM c ORDER BY c.idKey", crossPartition, true},
		{"SELECT TOP 1 * FROM c", crossPartition, true},
		{"SELECT * FROM c WHERE c.id = 'x' ORDER BY c.idKey", pkOf("x"), false},
	} {
		_, err := query(t.Context(), s.container(cPartitions), tc.pk, tc.sql, nil)
		if got := isStatus(err, http.StatusBadRequest); got != tc.refused {
			t.Errorf("%s: got error %v, want refused %v", tc.sql, err, tc.refused)
		}
	}
}
