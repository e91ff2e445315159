package cosmos

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/guard"
)

var _ guard.Store = (*Store)(nil)

const (
	// DefaultLedgerTTL is how long a partition remembers a processed event
	// (before the newest it has seen): far longer than any redelivery (Event
	// Grid retries for 24 hours, Event Hubs keeps events for 1 to 7 days on
	// Standard).
	DefaultLedgerTTL = 30 * 24 * time.Hour
	// DefaultUpdateAttempts bounds how often a unit of work is run again after
	// losing a race.
	DefaultUpdateAttempts = 32
)

// Retry defaults for azcore's retry policy, used where Options.ClientOptions
// leaves them zero. Together they bound one call: at most 6 tries of at most 15 s
// each, with at most 5 waits of at most 10 s between them.
const (
	defaultMaxRetries    = 5
	defaultRetryDelay    = 250 * time.Millisecond
	defaultMaxRetryDelay = 10 * time.Second
	defaultTryTimeout    = 15 * time.Second
)

// Options configure Open. Endpoint and Database are required; every other zero
// field means its documented default.
type Options struct {
	// Endpoint is the account endpoint, https://ACCOUNT.documents.azure.com:443/.
	// A plain http:// endpoint is accepted for loopback hosts only (127.0.0.0/8,
	// ::1, localhost), and only with a Key.
	Endpoint string
	// Database is the name of the database holding the containers.
	Database string
	// Key is the account key. When empty, Credential authenticates instead.
	Key AccountKey
	// Credential authenticates with Microsoft Entra ID when Key is empty; nil
	// means azidentity's DefaultAzureCredential (managed identity in Azure, the
	// developer's az login elsewhere), for the cloud the endpoint lies in.
	Credential azcore.TokenCredential
	// EnsureContainers creates the database and any missing container (with
	// the partition keys and indexing policy of this package). Leave it false where
	// infrastructure code creates them, and where the identity has data-plane
	// rights only (the built-in data contributor role cannot create
	// containers): Open then only checks that they exist as expected.
	EnsureContainers bool
	// LedgerTTL is how long a partition's head keeps a processed event key:
	// keys marked longer than this before the newest are dropped when the head
	// is written. 0 means DefaultLedgerTTL, a negative value no age limit (the
	// newest 2,000 keys are kept either way).
	LedgerTTL time.Duration
	// UpdateAttempts bounds how often a unit of work (a Batch, or a single
	// write) is run when other writers keep changing its partition first (412,
	// 409): 0 means DefaultUpdateAttempts. Past it, it fails with
	// guard.ErrConflict.
	UpdateAttempts int
	// ClientOptions are azcosmos's. Zero retry settings get this package's
	// defaults (see the package documentation).
	ClientOptions azcosmos.ClientOptions
}

// Store is a guard.Store in one Cosmos DB database. It is safe for concurrent
// use, also by several processes (each with its own Store) on one database.
type Store struct {
	client     *azcosmos.Client
	database   string
	containers map[string]*azcosmos.ContainerClient
	attempts   int
	ledgerTTL  time.Duration // > 0, or 0 for no age limit
}

// Open connects to the database, creates or checks its containers, and returns
// the store. A database of the layout before partitions is refused, with the
// command that migrates it. The key never appears in the errors it returns.
func Open(ctx context.Context, o Options) (*Store, error) {
	ep, err := checkEndpoint(o.Endpoint, o.Key != "")
	if err != nil {
		return nil, fmt.Errorf("cosmos: open: %w", err)
	}
	if err := checkName(o.Database); err != nil {
		return nil, fmt.Errorf("cosmos: open %s: database: %w", ep.Host, err)
	}
	where := fmt.Sprintf("%s database %s", ep.Host, o.Database)
	client, err := newClient(o, ep.String(), isGovernment(ep.Hostname()))
	if err != nil {
		return nil, fmt.Errorf("cosmos: open %s: %w", where, err)
	}
	s := &Store{client: client, database: o.Database, containers: map[string]*azcosmos.ContainerClient{},
		attempts: o.UpdateAttempts, ledgerTTL: o.LedgerTTL}
	if s.attempts <= 0 {
		s.attempts = DefaultUpdateAttempts
	}
	switch {
	case s.ledgerTTL == 0:
		s.ledgerTTL = DefaultLedgerTTL
	case s.ledgerTTL < 0:
		s.ledgerTTL = 0
	}
	if err := s.setup(ctx, o); err != nil {
		client.Close()
		return nil, fmt.Errorf("cosmos: open %s: %w", where, err)
	}
	return s, nil
}

// Close releases the client's caches.
func (s *Store) Close() error {
	s.client.Close()
	return nil
}

// newClient makes the azcosmos client: with the key when there is one, with
// Entra ID otherwise.
func newClient(o Options, endpoint string, gov bool) (*azcosmos.Client, error) {
	co := withRetryDefaults(o.ClientOptions)
	if o.Key != "" {
		cred, err := azcosmos.NewKeyCredential(string(o.Key))
		if err != nil {
			// The SDK's message names the bad byte, never the key; keep it anyway
			// out of ours.
			return nil, errors.New("account key: not a base64 Cosmos DB key")
		}
		return azcosmos.NewClientWithKey(endpoint, cred, &co)
	}
	cred := o.Credential
	if cred == nil {
		var dco azidentity.DefaultAzureCredentialOptions
		if gov {
			dco.ClientOptions.Cloud = cloud.AzureGovernment
		}
		c, err := azidentity.NewDefaultAzureCredential(&dco)
		if err != nil {
			return nil, fmt.Errorf("default Azure credential: %w", err)
		}
		cred = c
	}
	return azcosmos.NewClient(endpoint, cred, &co)
}

// isGovernment reports whether host is a Cosmos DB endpoint in Azure Government,
// whose identities sign in at login.microsoftonline.us.
func isGovernment(host string) bool {
	return strings.HasSuffix(strings.ToLower(host), ".documents.azure.us")
}

// AccountKey is a Cosmos DB account key. It prints, logs and marshals as
// "[redacted]", so that an Options value in a log line or an error never shows it.
type AccountKey string

const redacted = "[redacted]"

// String returns "[redacted]".
func (AccountKey) String() string { return redacted }

// GoString returns "[redacted]".
func (AccountKey) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb.
func (AccountKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, redacted) }

// LogValue logs "[redacted]".
func (AccountKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText marshals "[redacted]".
func (AccountKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// withRetryDefaults returns co with this package's retry defaults where its
// retry settings are zero.
func withRetryDefaults(co azcosmos.ClientOptions) azcosmos.ClientOptions {
	r := &co.Retry
	if r.MaxRetries == 0 {
		r.MaxRetries = defaultMaxRetries
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = defaultRetryDelay
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = defaultMaxRetryDelay
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = defaultTryTimeout
	}
	if r.ShouldRetry == nil && r.StatusCodes == nil {
		r.ShouldRetry = shouldRetry
	}
	return co
}

// shouldRetry is azcore's default choice of what to retry (its status codes and
// every transport error), less the transport errors that cannot heal: a
// certificate that does not verify fails the same way every time.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		var verify *tls.CertificateVerificationError
		var unknown x509.UnknownAuthorityError
		var host x509.HostnameError
		var invalid x509.CertificateInvalidError
		return !errors.As(err, &verify) && !errors.As(err, &unknown) && !errors.As(err, &host) && !errors.As(err, &invalid)
	}
	return runtime.HasStatusCode(resp, http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout)
}
