package grpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/tikvsim/tikvsim/client/transport"
)

// Options configure a Transport. The zero value is usable: every zero field
// takes the default named in its comment (client-go config/client.go
// DefaultTiKVClient and internal/client/client.go).
type Options struct {
	// ConnectionCount is the number of gRPC connections per store address,
	// each with its own BatchCommands stream and send loop. Default 4.
	ConnectionCount int
	// DialTimeout bounds waiting for a connection to become ready before a
	// stream is opened or a unary call is made. Default 5s.
	DialTimeout time.Duration
	// KeepAliveTime is the idle time after which the client pings the
	// store. Default 10s.
	KeepAliveTime time.Duration
	// KeepAliveTimeout is how long a ping may stay unanswered before the
	// connection is closed. Default 3s.
	KeepAliveTimeout time.Duration
	// Compression is "" or "none" for none, or "gzip".
	Compression string
	// InitialWindowSize and InitialConnWindowSize are gRPC's flow-control
	// windows. Default 128 MiB each.
	InitialWindowSize     int32
	InitialConnWindowSize int32
	// MaxRecvMsgSize bounds a received message. Default math.MaxInt64 as
	// in client-go (MaxRecvMsgSize).
	MaxRecvMsgSize int
	// IdleTimeout recycles a connection unused for this long: it is closed
	// and redialled on next use. Default 3m; negative disables recycling.
	IdleTimeout time.Duration
	// DisableBatch sends every request as a unary RPC.
	DisableBatch bool
	// Batch configures the BatchCommands send loop.
	Batch BatchOptions
	// Security turns on TLS when CAPath is set.
	Security Security
	// DialOptions are appended to the transport's own dial options.
	DialOptions []grpc.DialOption
	// Logger receives connection and stream events; nil discards them.
	Logger *slog.Logger
}

// Default values (client-go config.DefaultTiKVClient).
const (
	DefaultConnectionCount   = 4
	DefaultDialTimeout       = 5 * time.Second
	DefaultKeepAliveTime     = 10 * time.Second
	DefaultKeepAliveTimeout  = 3 * time.Second
	DefaultWindowSize        = 1 << 27
	DefaultIdleTimeout       = 3 * time.Minute
	DefaultMaxBatchSize      = 128
	DefaultBatchWaitSize     = 8
	DefaultOverloadThreshold = 200
)

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, TurboOptions, error) {
	if o.ConnectionCount <= 0 {
		o.ConnectionCount = DefaultConnectionCount
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.KeepAliveTime <= 0 {
		o.KeepAliveTime = DefaultKeepAliveTime
	}
	if o.KeepAliveTimeout <= 0 {
		o.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if o.InitialWindowSize <= 0 {
		o.InitialWindowSize = DefaultWindowSize
	}
	if o.InitialConnWindowSize <= 0 {
		o.InitialConnWindowSize = DefaultWindowSize
	}
	if o.MaxRecvMsgSize <= 0 {
		o.MaxRecvMsgSize = int(^uint(0) >> 1)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Batch.MaxBatchSize <= 0 {
		o.Batch.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.Batch.WaitSize <= 0 {
		o.Batch.WaitSize = DefaultBatchWaitSize
	}
	if o.Batch.OverloadThreshold == 0 {
		o.Batch.OverloadThreshold = DefaultOverloadThreshold
	}
	switch o.Compression {
	case "", "none", gzip.Name:
	default:
		return o, TurboOptions{}, fmt.Errorf("grpc transport: unknown compression %q", o.Compression)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	turbo, err := ParseBatchPolicy(o.Batch.Policy)
	return o, turbo, err
}

// dialOptions builds the gRPC dial options for o (client-go conn_pool.go
// Init): credentials, windows, codec, compression, reconnect backoff and
// keepalive.
func (o Options) dialOptions() ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if o.Security.CAPath != "" {
		cfg, err := o.Security.TLSConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	call := []grpc.CallOption{grpc.MaxCallRecvMsgSize(o.MaxRecvMsgSize), grpc.ForceCodec(codec{})}
	if o.Compression == gzip.Name {
		call = append(call, grpc.UseCompressor(gzip.Name))
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(o.InitialWindowSize),
		grpc.WithInitialConnWindowSize(o.InitialConnWindowSize),
		grpc.WithDefaultCallOptions(call...),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   3 * time.Second,
			},
			MinConnectTimeout: o.DialTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    o.KeepAliveTime,
			Timeout: o.KeepAliveTimeout,
		}),
	}
	return append(opts, o.DialOptions...), nil
}

// Security locates the TLS material, as PEM files (client-go
// config.Security). TLS is on when CAPath is set.
type Security struct {
	// CAPath is the CA bundle that verifies the stores' certificates.
	CAPath string
	// CertPath and KeyPath are the client's certificate and key, for
	// mutual TLS; both or neither.
	CertPath string
	KeyPath  string
	// VerifyCN, when not empty, lists the common names a peer certificate
	// must carry (used by servers; kept for configuration parity).
	VerifyCN []string
}

// TLSConfig reads the files and returns the client TLS configuration, or
// nil, nil when CAPath is empty. The key pair is re-read on every
// handshake, so rotated certificates are picked up (client-go
// config/security.go ToTLSConfig).
func (s Security) TLSConfig() (*tls.Config, error) {
	if s.CAPath == "" {
		return nil, nil
	}
	ca, err := os.ReadFile(s.CAPath)
	if err != nil {
		return nil, fmt.Errorf("grpc transport: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("grpc transport: no certificate in CA file")
	}
	cfg := &tls.Config{RootCAs: pool, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	if (s.CertPath == "") != (s.KeyPath == "") {
		return nil, errors.New("grpc transport: set both CertPath and KeyPath, or neither")
	}
	if s.CertPath != "" {
		load := func() (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(s.CertPath, s.KeyPath)
			if err != nil {
				return nil, fmt.Errorf("grpc transport: load key pair: %w", err)
			}
			return &c, nil
		}
		if _, err := load(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	return cfg, nil
}

// codec marshals kvproto's gogo-generated messages with their own Marshal
// and Unmarshal methods, falling back to the protobuf runtime. As a
// version-1 codec it receives a buffer it owns, which kvproto messages
// that alias their input need (client-go internal/client/legacy_codec.go).
type codec struct{}

func (codec) Marshal(v any) ([]byte, error) {
	if m, ok := v.(interface{ Marshal() ([]byte, error) }); ok {
		return m.Marshal()
	}
	if m := messageV2(v); m != nil {
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("grpc transport: cannot marshal %T", v)
}

func (codec) Unmarshal(data []byte, v any) error {
	if m, ok := v.(interface{ Unmarshal([]byte) error }); ok {
		return m.Unmarshal(data)
	}
	if m := messageV2(v); m != nil {
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("grpc transport: cannot unmarshal %T", v)
}

func (codec) Name() string { return "proto" }

func messageV2(v any) proto.Message {
	switch m := v.(type) {
	case protoadapt.MessageV2:
		return m
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m)
	}
	return nil
}

// HealthListener receives the health feedback stores piggyback on
// BatchCommands responses (client-go ClientEventListener).
type HealthListener interface {
	// OnHealthFeedback is called from a receive loop; it must not block.
	OnHealthFeedback(*kvrpcpb.HealthFeedback)
}

// HealthFeedbackSource is the optional capability of a transport.Transport
// that reports store health feedback. Discover it by type assertion; a
// transport without it (the simulator's) reports none, and callers then
// rely on errors and timeouts alone.
type HealthFeedbackSource interface {
	// SetHealthListener installs l, replacing any earlier one; nil removes it.
	SetHealthListener(l HealthListener)
}

// AddrCloser is the optional capability of a transport.Transport that drops
// the connections to one store, for example after the store was removed or
// its address reassigned (client-go Client.CloseAddr). Use CloseAddr to call
// it with a fallback.
type AddrCloser interface {
	// CloseAddr closes the connections to addr. Requests in flight on them
	// fail as undetermined; the next request redials.
	CloseAddr(addr string) error
}

// ErrSkip is returned by the capability helpers when the transport lacks the
// capability; the caller carries on without it.
var ErrSkip = errors.New("grpc transport: capability not supported")

// CloseAddr calls tr's CloseAddr, or returns ErrSkip when tr has none.
func CloseAddr(tr transport.Transport, addr string) error {
	if c, ok := tr.(AddrCloser); ok {
		return c.CloseAddr(addr)
	}
	return ErrSkip
}

// SetHealthListener installs l on tr, or returns ErrSkip when tr reports no
// health feedback.
func SetHealthListener(tr transport.Transport, l HealthListener) error {
	if s, ok := tr.(HealthFeedbackSource); ok {
		s.SetHealthListener(l)
		return nil
	}
	return ErrSkip
}
