// Package openstack is infrabot's Cloud on OpenStack: it implements
// actions.Cloud with gophercloud against Keystone (auth), Nova (servers,
// flavors), Glance (images) and Neutron (networks).
//
// It owns the translation from OpenStack to infrabot's terms: names people
// write in config become IDs, Nova's faults and HTTP failures become
// *actions.Error values with messages fit for chat, and the ownership
// metadata is checked on every server it returns or deletes.
package openstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"

	"github.com/infrabot/infrabot/actions"
)

// Auth says how to log in to OpenStack: either a cloud from a clouds.yaml
// file (CloudsYAML and Cloud), or the fields given inline.
type Auth struct {
	CloudsYAML string // path to a clouds.yaml; "" means the inline fields below
	Cloud      string // the cloud's name in CloudsYAML

	AuthURL           string // Keystone, e.g. https://keystone.example.com:5000/v3
	Username          string
	Password          string
	ProjectName       string
	ProjectID         string // wins over ProjectName when both are set
	UserDomainName    string // defaults to DomainName, then "Default"
	ProjectDomainName string // defaults to DomainName, then "Default"
	DomainName        string // fallback for both domains
	Region            string // "" picks the first region in the catalog
}

// Options tune a Cloud. The zero value is ready to use.
type Options struct {
	// HTTPClient carries every request, including authentication. nil
	// means a client with sane timeouts. This is the seam tests use.
	HTTPClient *http.Client
	// PollInitial and PollMax bound the backoff of WaitActive and
	// WaitGone: the first wait is PollInitial, then a quarter of the time
	// waited so far, up to PollMax.
	// Defaults: 500ms and 5s; a PollMax below PollInitial is PollInitial.
	PollInitial, PollMax time.Duration
	// Logger receives operational logs (never passwords or tokens).
	// nil discards them.
	Logger *slog.Logger
	// Parallel bounds the requests in flight to the cloud at once;
	// DefaultParallel when 0.
	Parallel int
	// SlowDownWait is the first wait after the cloud answers 429 (or 503
	// with Retry-After, which is honoured instead), doubling on each of
	// up to 5 retries. Default 1s. A create answered 503 is never sent
	// again: the cloud may have made the server.
	SlowDownWait time.Duration
}

// Cloud is an authenticated OpenStack project. It is safe for concurrent
// use. Tokens are renewed by gophercloud when they expire.
type Cloud struct {
	compute *gophercloud.ServiceClient
	image   *gophercloud.ServiceClient
	network *gophercloud.ServiceClient

	pollInitial, pollMax time.Duration
	log                  *slog.Logger

	names resolver
}

var _ actions.Cloud = (*Cloud)(nil)

// New logs in to OpenStack and finds the compute, image and network
// endpoints. Bad credentials give an *actions.Error of Kind Permission, an
// unreachable Keystone one of Kind Unavailable, a bad clouds.yaml or a
// missing endpoint one of Kind Invalid.
func New(ctx context.Context, auth Auth, opts Options) (*Cloud, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ao, region, err := authOptions(auth)
	if err != nil {
		return nil, err
	}
	provider, err := openstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, &actions.Error{Kind: actions.Invalid,
			Message: fmt.Sprintf("OpenStack auth URL %q is not valid", ao.IdentityEndpoint), Err: err}
	}
	provider.HTTPClient = httpClient(opts, log)
	provider.UserAgent.Prepend("infrabot")

	who := fmt.Sprintf("user %s at %s", ao.Username, ao.IdentityEndpoint)
	if err := openstack.Authenticate(ctx, provider, ao); err != nil {
		return nil, authError(who, err)
	}
	log.Debug("openstack: authenticated", "user", ao.Username, "auth_url", ao.IdentityEndpoint)

	eo := gophercloud.EndpointOpts{Region: region}
	c := &Cloud{
		pollInitial: opts.PollInitial,
		pollMax:     opts.PollMax,
		log:         log,
	}
	if c.pollInitial <= 0 {
		c.pollInitial = 500 * time.Millisecond
	}
	if c.pollMax <= 0 {
		c.pollMax = 5 * time.Second
	}
	c.pollMax = max(c.pollMax, c.pollInitial)
	for _, svc := range []struct {
		name string
		dst  **gophercloud.ServiceClient
		new  func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)
	}{
		{"compute (Nova)", &c.compute, openstack.NewComputeV2},
		{"image (Glance)", &c.image, openstack.NewImageV2},
		{"network (Neutron)", &c.network, openstack.NewNetworkV2},
	} {
		client, err := svc.new(provider, eo)
		if err != nil {
			return nil, &actions.Error{Kind: actions.Invalid,
				Message: fmt.Sprintf("OpenStack has no %s endpoint for region %q in its catalog", svc.name, region),
				Err:     err}
		}
		*svc.dst = client
	}
	c.names.c = c
	return c, nil
}

// authOptions builds gophercloud's AuthOptions from auth. It fills the
// domains itself rather than relying on gophercloud's environment reader,
// which needs OS_DOMAIN_NAME and ignores OS_USER_DOMAIN_NAME.
func authOptions(auth Auth) (gophercloud.AuthOptions, string, error) {
	if auth.CloudsYAML != "" {
		if auth.Cloud == "" {
			return gophercloud.AuthOptions{}, "", actions.Errorf(actions.Invalid,
				"a cloud name is needed with clouds.yaml %s", auth.CloudsYAML)
		}
		opts := []clouds.ParseOption{clouds.WithLocations(auth.CloudsYAML), clouds.WithCloudName(auth.Cloud)}
		if auth.Region != "" {
			opts = append(opts, clouds.WithRegion(auth.Region))
		}
		ao, eo, _, err := clouds.Parse(opts...)
		if err != nil {
			return gophercloud.AuthOptions{}, "", &actions.Error{Kind: actions.Invalid,
				Message: fmt.Sprintf("cannot use cloud %q from %s", auth.Cloud, auth.CloudsYAML), Err: err}
		}
		if ao.IdentityEndpoint == "" {
			return gophercloud.AuthOptions{}, "", actions.Errorf(actions.Invalid,
				"cloud %q in %s has no auth_url", auth.Cloud, auth.CloudsYAML)
		}
		ao.AllowReauth = true
		return ao, eo.Region, nil
	}

	if auth.AuthURL == "" || auth.Username == "" {
		return gophercloud.AuthOptions{}, "", actions.Errorf(actions.Invalid,
			"OpenStack auth needs an auth URL and a username (or a clouds.yaml)")
	}
	userDomain := firstOf(auth.UserDomainName, auth.DomainName, "Default")
	projectDomain := firstOf(auth.ProjectDomainName, auth.DomainName, "Default")
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: auth.AuthURL,
		Username:         auth.Username,
		Password:         auth.Password,
		DomainName:       userDomain,
		AllowReauth:      true,
	}
	switch {
	case auth.ProjectID != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: auth.ProjectID}
	case auth.ProjectName != "":
		ao.Scope = &gophercloud.AuthScope{ProjectName: auth.ProjectName, DomainName: projectDomain}
	}
	return ao, auth.Region, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// authError turns a failed login into a message a person can act on.
func authError(who string, err error) error {
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusUnauthorized):
		return &actions.Error{Kind: actions.Permission,
			Message: fmt.Sprintf("OpenStack rejected the credentials of %s (check user, password, project and domains)", who),
			Err:     err}
	case gophercloud.ResponseCodeIs(err, http.StatusForbidden):
		return &actions.Error{Kind: actions.Permission,
			Message: fmt.Sprintf("OpenStack refused a token to %s for that project", who), Err: err}
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return &actions.Error{Kind: actions.Invalid,
			Message: fmt.Sprintf("no OpenStack identity service found for %s (check the auth URL)", who), Err: err}
	// before the network case: ctx errors come wrapped in *url.Error
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &actions.Error{Kind: actions.Unavailable,
			Message: fmt.Sprintf("gave up logging in to OpenStack as %s", who), Err: err}
	case isNetworkError(err), isServerError(err):
		return &actions.Error{Kind: actions.Unavailable,
			Message: fmt.Sprintf("cannot reach OpenStack identity for %s", who), Err: err}
	}
	return fmt.Errorf("logging in to OpenStack as %s: %w", who, err)
}

// httpClient returns the client for all requests: opts.HTTPClient (or one
// with sane timeouts) whose transport retries idempotent GETs on 5xx and
// network errors, bounds the requests in flight and waits out the cloud's
// requests to slow down (pace). opts.HTTPClient itself is not modified.
func httpClient(opts Options, log *slog.Logger) http.Client {
	base := opts.HTTPClient
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c = http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: time.Minute,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   max(16, opts.Parallel, DefaultParallel),
			},
		}
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	next = newPace(next, log, opts.Parallel, opts.SlowDownWait)
	c.Transport = &retryGETs{next: next, log: log, waits: []time.Duration{200 * time.Millisecond, 600 * time.Millisecond}}
	return c
}
