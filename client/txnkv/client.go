// Package txnkv is the transactional client: Begin a transaction, read a
// snapshot, get timestamps (client-go txnkv/txnkv.go and tikv/kv.go's
// KVStore). A Client starts no task; call Run for its optional background
// work (region cache expiry, low-resolution timestamp refresh).
package txnkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/client/txnkv/txnsnapshot"
)

// Option configures a Client.
type Option func(*config)

type config struct {
	rt      rt.Runtime
	tr      transport.Transport
	pd      pd.Client
	cache   locate.Options
	logger  *slog.Logger
	metrics *metrics.Metrics
}

// WithLogger sets the logger (default: none). The client logs retries at
// debug level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMetrics sets the Prometheus collectors the client reports to (see
// client/metrics; default: none).
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithRuntime sets the runtime (default rt.Real).
func WithRuntime(r rt.Runtime) Option { return func(c *config) { c.rt = r } }

// WithTransport sets the store transport (required).
func WithTransport(t transport.Transport) Option { return func(c *config) { c.tr = t } }

// WithPD sets the PD edge (required).
func WithPD(p pd.Client) Option { return func(c *config) { c.pd = p } }

// WithRegionCache sets the region cache options.
func WithRegionCache(o locate.Options) Option { return func(c *config) { c.cache = o } }

// ErrClosed is returned by a closed Client.
var ErrClosed = errors.New("txnkv: client is closed")

// Client is a transactional client. It is safe for concurrent use.
type Client struct {
	cfg    config
	cache  *locate.Cache
	oracle *oracle.PDOracle
	store  *transaction.Store
	closed atomic.Bool
}

// NewClient returns a client on the given edges. It starts no task.
func NewClient(opts ...Option) (*Client, error) {
	cfg := config{rt: rt.Real}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tr == nil || cfg.pd == nil {
		return nil, errors.New("txnkv: NewClient needs WithTransport and WithPD")
	}
	// TiKV keeps transactional region boundaries memcomparable-encoded:
	// the codec decodes them for the cache and EpochNotMatch answers
	// (client-go codecV1 in txn mode).
	codec, err := apicodec.NewCodecV1(apicodec.ModeTxn)
	if err != nil {
		return nil, err
	}
	cache := locate.New(cfg.rt, sender.CodecRegionSource(cfg.pd, codec), cfg.cache)
	s := sender.NewWithCodec(cache, cfg.tr, codec)
	s.SetObserver(sender.Observer{Clock: cfg.rt, Metrics: cfg.metrics, Logger: cfg.logger})
	o := oracle.NewPDOracle(cfg.rt, cfg.pd, 0)
	return &Client{cfg: cfg, cache: cache, oracle: o, store: &transaction.Store{
		RT: cfg.rt, Sender: s, Oracle: o, Resolver: txnlock.NewLockResolver(s, o),
	}}, nil
}

// Run runs the background work until ctx is done: region cache expiry and
// the low-resolution timestamp refresh. It is optional.
func (c *Client) Run(ctx context.Context) error {
	g := rt.NewGroup(c.cfg.rt)
	g.Go("region-cache", func() error { return c.cache.Run(ctx) })
	g.Go("oracle", func() error { return c.oracle.Run(ctx, 2*time.Second) })
	return g.Wait(context.Background())
}

// Oracle returns the client's timestamp oracle.
func (c *Client) Oracle() oracle.Oracle { return c.oracle }

// LockResolver returns the client's lock resolver.
func (c *Client) LockResolver() *txnlock.LockResolver { return c.store.Resolver }

// GetTimestamp returns a fresh timestamp.
func (c *Client) GetTimestamp(ctx context.Context) (uint64, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	return c.oracle.GetTimestamp(ctx)
}

// Begin starts a transaction at a fresh timestamp.
func (c *Client) Begin(ctx context.Context) (*transaction.KVTxn, error) {
	ts, err := c.GetTimestamp(ctx)
	if err != nil {
		return nil, fmt.Errorf("txnkv: begin: %w", err)
	}
	return transaction.New(c.store, ts), nil
}

// BeginWithStartTS starts a transaction at startTS.
func (c *Client) BeginWithStartTS(startTS uint64) *transaction.KVTxn {
	return transaction.New(c.store, startTS)
}

// GetSnapshot returns a snapshot at ts.
func (c *Client) GetSnapshot(ts uint64) *txnsnapshot.KVSnapshot {
	return txnsnapshot.New(c.cfg.rt, c.store.Sender, c.store.Resolver, ts)
}

// Close closes the client and its edges.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.oracle.Close()
	c.cfg.pd.Close()
	return c.cfg.tr.Close()
}
