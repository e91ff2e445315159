package cosmos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// docID is the Cosmos DB document ID (and, in containers partitioned by /id,
// the partition key; in partitions, after "outbox-") of a store key: the key itself when it is short and made
// of characters that are safe in an ID and a URL path, otherwise "~" and its
// SHA-256. "~" is not among the kept characters, so no two keys share an ID. The
// key itself is always kept in the document too.
func docID(key string) string {
	if len(key) > 0 && len(key) <= 200 && safeID(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "~" + hex.EncodeToString(sum[:])
}

func safeID(s string) bool {
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '-', r == '_', r == '.', r == ':', r == '=', r == '@', r == '+':
		default:
			return false
		}
	}
	return true
}

// pkOf is the partition key of a document in a container partitioned by /id.
func pkOf(id string) azcosmos.PartitionKey { return azcosmos.NewPartitionKeyString(id) }

// timeKey is a time as kept in the fields that queries compare and sort: UTC
// with all nine digits of the fraction, so that string order is time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// utc returns t in UTC without a monotonic clock reading.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

// isStatus reports whether err is a Cosmos DB response with this status.
func isStatus(err error, code int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

// readItem returns a document and its ETag, or nil when there is none.
func readItem(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, id string) ([]byte, azcore.ETag, error) {
	var resp azcosmos.ItemResponse
	err := retryTransient(ctx, func() (err error) {
		resp, err = c.ReadItem(ctx, pk, id, nil)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return resp.Value, resp.ETag, nil
}

// createItem creates a document; a document with its ID fails with 409.
func createItem(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, doc []byte) error {
	return retryTransient(ctx, func() error {
		_, err := c.CreateItem(ctx, pk, doc, nil)
		return err
	})
}

// upsertItem creates or replaces a document.
func upsertItem(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, doc []byte) error {
	return retryTransient(ctx, func() error {
		_, err := c.UpsertItem(ctx, pk, doc, nil)
		return err
	})
}

// createIfAbsent creates a document; one with the same ID already there is kept.
func createIfAbsent(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, doc []byte) error {
	err := createItem(ctx, c, pk, doc)
	if isStatus(err, http.StatusConflict) {
		return nil
	}
	return err
}

// deleteIfPresent deletes a document; deleting an absent one is not an error.
func deleteIfPresent(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, id string) error {
	err := retryTransient(ctx, func() error {
		_, err := c.DeleteItem(ctx, pk, id, nil)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

// crossPartition scopes a query to every partition. The Gateway serves such
// queries only when they filter and project: no ORDER BY, TOP, OFFSET, DISTINCT,
// GROUP BY or aggregates; callers sort and cut what comes back.
var crossPartition = azcosmos.NewPartitionKey()

// query runs a query and returns every document it selects, read over all
// pages (pages of a cross-partition query may be empty and still be followed by
// more). A transient failure starts the query again.
func query(ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, sql string,
	params []azcosmos.QueryParameter) ([][]byte, error) {
	var docs [][]byte
	err := retryTransient(ctx, func() error {
		docs = nil
		p := c.NewQueryItemsPager(sql, pk, &azcosmos.QueryOptions{QueryParameters: params})
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			docs = append(docs, page.Items...)
		}
		return nil
	})
	return docs, err
}

// queryDocs runs a query and decodes the documents it selects as T.
func queryDocs[T any](ctx context.Context, c *azcosmos.ContainerClient, pk azcosmos.PartitionKey, sql string,
	params []azcosmos.QueryParameter) ([]T, error) {
	docs, err := query(ctx, c, pk, sql, params)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(docs))
	for _, b := range docs {
		var d T
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("decode %T: %w", d, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// encodeJSON marshals a document.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// decodeJSON unmarshals a document.
func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// param is a query parameter.
func param(name string, v any) azcosmos.QueryParameter {
	return azcosmos.QueryParameter{Name: name, Value: v}
}
