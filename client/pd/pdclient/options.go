package pdclient

import (
	"fmt"
	"time"

	pdopt "github.com/tikv/pd/client/opt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
)

// Defaults, as client-go sets them for its PD client (tikv/kv.go
// NewPDClient over config.DefaultPDClient and DefaultTiKVClient).
const (
	// DefaultTimeout bounds each PD request (client-go PDServerTimeout, and
	// the pd client's own default).
	DefaultTimeout = 3 * time.Second
	// DefaultKeepAliveTime is the idle time after which the PD connections
	// are pinged (client-go GrpcKeepAliveTime).
	DefaultKeepAliveTime = 10 * time.Second
	// DefaultKeepAliveTimeout is how long a ping may stay unanswered
	// (client-go GrpcKeepAliveTimeout).
	DefaultKeepAliveTimeout = 3 * time.Second
	// DefaultCallerComponent names this client in PD's request headers and
	// metrics.
	DefaultCallerComponent = "tikvsim-client"
)

// Option configures New.
type Option func(*options)

type options struct {
	security         tgrpc.Security
	dial             []grpc.DialOption
	timeout          time.Duration
	keepAliveTime    time.Duration
	keepAliveTimeout time.Duration
	forwarding       bool
	keyspace         string
	keyspaceSet      bool
	component        string
	pdOptions        []pdopt.ClientOption
}

func defaultOptions() options {
	return options{
		timeout:          DefaultTimeout,
		keepAliveTime:    DefaultKeepAliveTime,
		keepAliveTimeout: DefaultKeepAliveTimeout,
		component:        DefaultCallerComponent,
	}
}

// WithSecurity turns on TLS to PD when s.CAPath is set: the CA bundle
// verifies PD's certificate, and CertPath/KeyPath (both or neither) are the
// client certificate for mutual TLS (client-go config.Security, passed to
// the pd client as SecurityOption). The same value configures the store
// transport (grpc.Options.Security), so one Security serves both edges.
// New reads the files once to report a bad path or PEM before dialling.
func WithSecurity(s tgrpc.Security) Option { return func(o *options) { o.security = s } }

// WithGRPCDialOptions appends dial options to every PD connection (client-go
// rawkv.WithGRPCDialOptions / pd opt.WithGRPCDialOptions). They come after
// the adapter's keepalive option, so a keepalive here overrides it.
func WithGRPCDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// WithTimeout bounds each PD request, and each attempt of a multi-timestamp
// TSO request (default DefaultTimeout; client-go PDServerTimeout). A
// non-positive value is rejected by New.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithKeepAlive sets the gRPC keepalive of the PD connections (defaults
// DefaultKeepAliveTime and DefaultKeepAliveTimeout). Non-positive values are
// rejected by New.
func WithKeepAlive(interval, timeout time.Duration) Option {
	return func(o *options) { o.keepAliveTime, o.keepAliveTimeout = interval, timeout }
}

// WithForwarding lets the pd client reach the PD leader through a follower
// when the leader is unreachable from here (client-go EnableForwarding,
// default off).
func WithForwarding(enable bool) Option { return func(o *options) { o.forwarding = enable } }

// WithKeyspace makes the client work for one API V2 keyspace (client-go
// txnkv.WithKeyspace / rawkv.WithKeyspace): New loads the keyspace's meta
// from PD once, failing with ErrKeyspaceNotFound when PD does not know it
// (PD also answers so for a new keyspace until its region boundaries are
// split: retry New), and the pd client takes timestamps from the
// keyspace's TSO group. "" names the DEFAULT keyspace. Without this option
// the client is an API V1 client of the whole cluster.
func WithKeyspace(name string) Option {
	return func(o *options) { o.keyspace, o.keyspaceSet = name, true }
}

// WithCallerComponent names the caller in PD's request headers (default
// DefaultCallerComponent).
func WithCallerComponent(name string) Option { return func(o *options) { o.component = name } }

// WithPDOptions passes options straight to the pd client (client-go
// rawkv.WithPDOptions), after the adapter's own: for settings this package
// does not wrap, such as pd opt.WithMaxErrorRetry or
// opt.WithEnableRouterClient.
func WithPDOptions(opts ...pdopt.ClientOption) Option {
	return func(o *options) { o.pdOptions = append(o.pdOptions, opts...) }
}

// validate checks the options that New cannot hand to the pd client as
// they are.
func (o *options) validate() error {
	if o.timeout <= 0 {
		return fmt.Errorf("timeout %v is not positive", o.timeout)
	}
	if o.keepAliveTime <= 0 || o.keepAliveTimeout <= 0 {
		return fmt.Errorf("keepalive %v/%v is not positive", o.keepAliveTime, o.keepAliveTimeout)
	}
	if o.component == "" {
		return fmt.Errorf("empty caller component")
	}
	if _, err := o.security.TLSConfig(); err != nil {
		return err
	}
	return nil
}

// clientOptions are the pd client options for o, the adapter's first and
// the caller's raw ones last.
func (o *options) clientOptions() []pdopt.ClientOption {
	dial := append([]grpc.DialOption{grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time:    o.keepAliveTime,
		Timeout: o.keepAliveTimeout,
	})}, o.dial...)
	out := []pdopt.ClientOption{
		pdopt.WithGRPCDialOptions(dial...),
		pdopt.WithCustomTimeoutOption(o.timeout),
		pdopt.WithForwardingOption(o.forwarding),
	}
	return append(out, o.pdOptions...)
}
