package resourcemanager

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Options are what a caller of NewDefault may set; the zero value is Azure.
type Options struct {
	// Credential signs the client in. Nil: azidentity's DefaultAzureCredential
	// in the cloud (a managed identity in Azure, the developer's sign-in
	// locally), built with the client's options (cloud, transport, retries).
	Credential azcore.TokenCredential
	// ARM are the client's pipeline options (endpoint, transport, retries).
	// Nil: the named cloud's. A Cloud left unset is the named cloud's.
	ARM *arm.ClientOptions
}

// NewDefault returns the ARM client of the named cloud (AzureCloud or
// AzureUSGovernment; empty is AzureCloud), its reads paced as New paces them.
// It is the one place a command or the handler builds one: the cloud's other
// clients (Resource Graph) take its Credential and ClientOptions, so a process
// signs in once, as one identity, in one cloud.
func NewDefault(cloudName string, o Options) (*Client, error) {
	conf, err := Cloud(cloudName)
	if err != nil {
		return nil, err
	}
	opts := arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf}}
	if o.ARM != nil {
		opts = *o.ARM
		if opts.Cloud.ActiveDirectoryAuthorityHost == "" && len(opts.Cloud.Services) == 0 {
			opts.Cloud = conf
		}
	}
	cred := o.Credential
	if cred == nil {
		co := opts.ClientOptions
		co.PerCallPolicies, co.PerRetryPolicies = nil, nil // the client's, not the sign-in's
		if cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co}); err != nil {
			return nil, fmt.Errorf("credential: %w", err)
		}
	}
	return New(cred, &opts)
}

// Credential is what the client signs in with; the cloud's other clients
// (Resource Graph) share it.
func (c *Client) Credential() azcore.TokenCredential { return c.cred }

// ClientOptions are the options the client was built with (cloud, transport,
// retries) without its read budget, for the cloud's other clients (Resource
// Graph), which ARM throttles apart.
func (c *Client) ClientOptions() *arm.ClientOptions {
	o := c.opts
	o.PerRetryPolicies = nil
	for _, p := range c.opts.PerRetryPolicies {
		if _, ok := p.(*ReadBudget); !ok {
			o.PerRetryPolicies = append(o.PerRetryPolicies, p)
		}
	}
	return &o
}
