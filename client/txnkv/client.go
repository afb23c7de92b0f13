// Package txnkv is the transactional client: Begin a transaction, read a
// snapshot, get timestamps (client-go txnkv/txnkv.go and tikv/kv.go's
// KVStore). A Client starts no task; call Run for its optional background
// work (region cache expiry, low-resolution timestamp refresh).
//
// API versions: WithAPIVersion selects V1 (default) or V2. An API V2 client
// works inside one keyspace (WithKeyspace, loaded by NewClientWithOpts, or
// WithKeyspaceMeta), as client-go's txnkv.NewClient with WithKeyspace and
// WithAPIVersion: every key of every request (reads, prewrites, commits,
// lock resolution, scans) travels with the keyspace's 'x' prefix, and
// region boundaries, scan bounds and the keys of returned locks and errors
// are mapped back to user keys (package apicodec), so callers and the
// transaction layers never see the prefix and never leave the keyspace.
package txnkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvsim/tikvsim/client/internal/apicodec"
	"github.com/tikvsim/tikvsim/client/internal/latch"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/internal/sender"
	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/oracle"
	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/resourcecontrol"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/client/txnkv/transaction"
	"github.com/tikvsim/tikvsim/client/txnkv/txnlock"
	"github.com/tikvsim/tikvsim/client/txnkv/txnsnapshot"
)

// Option configures a Client.
type Option func(*config)

type config struct {
	rt         rt.Runtime
	tr         transport.Transport
	pd         pd.Client
	cache      locate.Options
	logger     *slog.Logger
	metrics    *metrics.Metrics
	latches    uint
	apiVersion kvrpcpb.APIVersion
	keyspace   string
	meta       *keyspacepb.KeyspaceMeta
	rc         resourcecontrol.KVInterceptor
	// safePointTTL bounds the age of the txn safe point CheckVisibility
	// trusts (gc.go).
	safePointTTL time.Duration
}

// WithResourceControl makes rc charge every request of a resource group
// (util.WithResourceGroupName) the client sends, transactions, snapshots,
// lock resolution, GC and range tasks alike, unless the request's context
// binds its own (resourcecontrol.WithKVInterceptor; a bound nil turns
// charging off). This is client-go's client-wide resource control
// interceptor (tikv.SetResourceControlInterceptor), per client here.
// Default: none, nothing is charged.
func WithResourceControl(rc resourcecontrol.KVInterceptor) Option {
	return func(c *config) { c.rc = rc }
}

// WithAPIVersion sets the API version the cluster runs (client-go txnkv
// WithAPIVersion): V1 (default) or V2, which needs a keyspace (see
// WithKeyspace). V1TTL is for raw KV only and is refused.
func WithAPIVersion(v kvrpcpb.APIVersion) Option { return func(c *config) { c.apiVersion = v } }

// WithKeyspace sets the keyspace of an API V2 client by name (client-go
// txnkv WithKeyspace; "" means the DEFAULT keyspace). NewClientWithOpts
// loads its meta from PD.
func WithKeyspace(name string) Option { return func(c *config) { c.keyspace = name } }

// WithKeyspaceMeta sets the keyspace of an API V2 client from meta already
// loaded (for example with PD's LoadKeyspace); NewClient needs it for V2.
func WithKeyspaceMeta(m *keyspacepb.KeyspaceMeta) Option { return func(c *config) { c.meta = m } }

// KeyspaceLoader is the optional capability of a PD edge that
// NewClientWithOpts uses to load an API V2 keyspace (pd.KeyspaceLoader).
type KeyspaceLoader = pd.KeyspaceLoader

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

// WithLocalLatches turns on local latches with size slots (client-go
// EnableTxnLocalLatches; TiDB's default size is 2048000): optimistic
// commits of this client on the same keys run one after the other, and a
// transaction that a local commit already conflicts with fails with
// tikverr.ErrWriteConflictInLatch before sending anything. 0 (the default)
// leaves them off.
func WithLocalLatches(size uint) Option { return func(c *config) { c.latches = size } }

// WithSafePointCacheTTL sets how long reads trust the GC txn safe point
// last read from PD (default DefaultSafePointCacheTTL); see
// Client.CheckVisibility. 0 asks PD on every check.
func WithSafePointCacheTTL(d time.Duration) Option { return func(c *config) { c.safePointTTL = d } }

// ErrClosed is returned by a closed Client.
var ErrClosed = errors.New("txnkv: client is closed")

// Client is a transactional client. It is safe for concurrent use.
type Client struct {
	cfg    config
	codec  *apicodec.Codec
	cache  *locate.Cache
	oracle *oracle.PDOracle
	store  *transaction.Store
	closed atomic.Bool
	safeTS safeTSCache // stores' safe ts (safets.go)
	// gcCache is the txn safe point CheckVisibility trusts (gc.go).
	gcCache safePointCache
}

// NewClient returns a client on the given edges. It starts no task.
func NewClient(opts ...Option) (*Client, error) {
	cfg := config{rt: rt.Real, safePointTTL: DefaultSafePointCacheTTL}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.tr == nil || cfg.pd == nil {
		return nil, errors.New("txnkv: NewClient needs WithTransport and WithPD")
	}
	// TiKV keeps transactional region boundaries memcomparable-encoded:
	// the codec decodes them for the cache and EpochNotMatch answers
	// (client-go codecV1 in txn mode); in API V2 it also adds and strips
	// the keyspace prefix (client-go codecV2).
	var meta *keyspacepb.KeyspaceMeta
	switch cfg.apiVersion {
	case kvrpcpb.APIVersion_V1:
	case kvrpcpb.APIVersion_V2:
		if cfg.meta == nil {
			return nil, errors.New("txnkv: an API V2 client needs WithKeyspaceMeta, or NewClientWithOpts to load the keyspace")
		}
		meta = cfg.meta
	default:
		return nil, fmt.Errorf("txnkv: unsupported API version %v (V1 or V2)", cfg.apiVersion)
	}
	codec, err := apicodec.NewCodec(cfg.apiVersion, apicodec.ModeTxn, meta)
	if err != nil {
		return nil, fmt.Errorf("txnkv: %w", err)
	}
	cache := locate.New(cfg.rt, sender.CodecRegionSource(cfg.pd, codec), cfg.cache)
	s := sender.NewWithCodec(cache, cfg.tr, codec)
	s.SetObserver(sender.Observer{Clock: cfg.rt, Metrics: cfg.metrics, Logger: cfg.logger})
	s.SetResourceControl(cfg.rc)
	o := oracle.NewPDOracle(cfg.rt, cfg.pd, 0)
	s.SetReadTSValidator(o) // a stale read's ts must not be in the future
	var latches *latch.Latches
	if cfg.latches > 0 {
		latches = latch.New(cfg.rt, cfg.latches)
	}
	c := &Client{cfg: cfg, codec: codec, cache: cache, oracle: o, store: &transaction.Store{
		RT: cfg.rt, Sender: s, Oracle: o, Resolver: txnlock.NewLockResolver(s, o), Latches: latches,
	}}
	if _, ok := cfg.pd.(pd.GCStates); ok {
		// Reads are vetted against GC's txn safe point (client-go
		// snapshots call KVStore.CheckVisibility); a PD edge without the
		// GC-states API cannot tell, and reads go unchecked.
		c.store.Visibility = c.CheckVisibility
	}
	return c, nil
}

// NewClientWithOpts is NewClient that, for API V2 without WithKeyspaceMeta,
// first loads the keyspace named by WithKeyspace from PD through the PD
// edge's KeyspaceLoader capability (client-go txnkv.NewClient with
// WithKeyspace). It must run in a task of the runtime; it starts none.
func NewClientWithOpts(ctx context.Context, opts ...Option) (*Client, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.apiVersion == kvrpcpb.APIVersion_V2 && cfg.meta == nil {
		meta, err := apicodec.LoadKeyspace(ctx, cfg.pd, cfg.keyspace)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", "txnkv", err)
		}
		opts = append(opts, WithKeyspaceMeta(meta))
	}
	return NewClient(opts...)
}

// APIVersion returns the API version the client speaks.
func (c *Client) APIVersion() kvrpcpb.APIVersion { return c.codec.APIVersion() }

// KeyspaceMeta returns the client's keyspace, nil below API V2.
func (c *Client) KeyspaceMeta() *keyspacepb.KeyspaceMeta { return c.codec.GetKeyspaceMeta() }

// KeyspaceID returns the client's keyspace id (apicodec.NullspaceID, the
// maximum uint32, below API V2).
func (c *Client) KeyspaceID() uint32 { return uint32(c.codec.GetKeyspaceID()) }

// Run runs the background work until ctx is done: region cache expiry, the
// low-resolution timestamp refresh and the safe ts cache (UpdateSafeTS every
// 2 s). It is optional.
func (c *Client) Run(ctx context.Context) error {
	g := rt.NewGroup(c.cfg.rt)
	g.Go("region-cache", func() error { return c.cache.Run(ctx) })
	g.Go("oracle", func() error { return c.oracle.Run(ctx, 2*time.Second) })
	g.Go("safe-ts", func() error { return c.runSafeTS(ctx) })
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
	snap := txnsnapshot.New(c.cfg.rt, c.store.Sender, c.store.Resolver, ts)
	snap.SetVisibilityCheck(c.store.Visibility)
	return snap
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
