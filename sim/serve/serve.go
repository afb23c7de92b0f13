package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tikvsim/tikvsim/client/util/codec"
	"github.com/tikvsim/tikvsim/sim"
	"github.com/tikvsim/tikvsim/sim/cluster"
	"github.com/tikvsim/tikvsim/sim/cluster/pd"
	"github.com/tikvsim/tikvsim/sim/network"
)

// Config describes a served cluster. The zero value serves three stores on
// 127.0.0.1 with transactional (memcomparable-encoded) region boundaries.
type Config struct {
	// Stores is the number of TiKV stores (default 3). It overrides
	// Cluster.Stores.
	Stores int
	// Host is the address every server listens on (default 127.0.0.1).
	Host string
	// PDPort is the PD server's port; 0 picks a free one. Stores always
	// listen on free ports.
	PDPort int
	// RawKeys makes region boundaries raw keys (API V1 raw mode). Without
	// it boundaries are memcomparable-encoded user keys, as TiKV keeps them
	// for transactional data, whatever Cluster.TxnKeys says.
	RawKeys bool
	// Cluster is passed to cluster.New (Stores and TxnKeys are set from the
	// fields above). A zero ServiceTime means no service time at all here,
	// unlike the simulator's default.
	Cluster cluster.Config
	// Seed seeds the scheduler's interleaving choices (default 1). A
	// real-time run is not reproducible anyway.
	Seed uint64
	// Logf, when set, receives one line per notable event (servers
	// started, actions applied, requests that could not be served).
	Logf func(format string, args ...any)
}

// clientNode is the simulated network node every gRPC request leaves from.
const clientNode = "grpc"

// zero is the simulated network's and the stores' delay here: one
// nanosecond, since a zero Latency means "the default" to sim/network.
var zero = network.Latency{Min: time.Nanosecond, Max: time.Nanosecond}

// Server is a running served cluster. Its methods are safe for concurrent
// use.
type Server struct {
	cfg Config
	w   *sim.World
	c   *cluster.Cluster
	net *network.Network

	pdAddr     string
	clusterID  uint64
	storeAddrs []string // by store id - 1

	srvMu     sync.Mutex
	servers   []*grpc.Server // 0: PD, i: store i; nil while that node is crashed
	listeners []net.Listener // likewise
	stopped   bool           // the servers stopped for good

	cancel  context.CancelFunc
	ended   chan struct{} // closed when the world stops
	runErr  error         // the world's result, once ended is closed
	closeMu sync.Mutex
	closed  bool
}

// StartError is a failure to start serving.
type StartError struct {
	Op  string // what failed, such as "listen pd"
	Err error
}

func (e *StartError) Error() string { return "serve: " + e.Op + ": " + e.Err.Error() }

func (e *StartError) Unwrap() error { return e.Err }

// ErrClosed is returned by Do after Close, or once the world has stopped.
var ErrClosed = errors.New("serve: the cluster is not running")

// ActionError is an action that could not be parsed or applied.
type ActionError struct {
	Action string
	Err    error
}

func (e *ActionError) Error() string { return fmt.Sprintf("serve: action %q: %v", e.Action, e.Err) }

func (e *ActionError) Unwrap() error { return e.Err }

func (c Config) withDefaults() Config {
	if c.Stores <= 0 {
		c.Stores = 3
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	c.Cluster.Stores = c.Stores
	c.Cluster.TxnKeys = !c.RawKeys
	if c.Cluster.ServiceTime == (network.Latency{}) {
		c.Cluster.ServiceTime = zero
	}
	return c
}

// Start boots the cluster and starts serving it. The servers stop when ctx
// is done or Close is called; call Close in any case to release the ports
// and wait for the world to end.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.PDPort < 0 || cfg.PDPort > 65535 {
		return nil, &StartError{Op: "config", Err: fmt.Errorf("bad PD port %d", cfg.PDPort)}
	}
	s := &Server{cfg: cfg, ended: make(chan struct{})}
	lis, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.PDPort)))
	if err != nil {
		return nil, &StartError{Op: "listen pd", Err: err}
	}
	s.listeners = append(s.listeners, lis)
	s.pdAddr = lis.Addr().String()
	for i := 1; i <= cfg.Stores; i++ {
		lis, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, "0"))
		if err != nil {
			s.closeListeners()
			return nil, &StartError{Op: fmt.Sprintf("listen store %d", i), Err: err}
		}
		s.listeners = append(s.listeners, lis)
		s.storeAddrs = append(s.storeAddrs, lis.Addr().String())
	}

	s.w = sim.NewRealtime(cfg.Seed, sim.Options{})
	s.net = network.New(s.w, network.Config{Latency: zero})
	s.c = cluster.New(s.w, s.net, cfg.Cluster)
	s.c.NewTransport(clientNode) // adds the node requests leave from
	s.clusterID = s.c.PD().ClusterID()

	s.servers = append(s.servers, s.newServer(0))
	for i := range s.storeAddrs {
		s.servers = append(s.servers, s.newServer(i+1))
	}
	s.start(ctx)
	cfg.Logf("serve: pd %s, stores %s (%s keys)", s.pdAddr, strings.Join(s.storeAddrs, " "), s.keyMode())
	return s, nil
}

// newGRPCServer returns a gRPC server whose Stop waits for its handlers,
// so nothing runs (or logs) after Close.
func newGRPCServer() *grpc.Server { return grpc.NewServer(grpc.WaitForHandlers(true)) }

// newServer returns the gRPC server of node i: 0 for PD, i for store i.
func (s *Server) newServer(i int) *grpc.Server {
	srv := newGRPCServer()
	healthpb.RegisterHealthServer(srv, health.NewServer()) // "" is SERVING
	if i == 0 {
		pdpb.RegisterPDServer(srv, &pdServer{s: s})
		keyspacepb.RegisterKeyspaceServer(srv, &keyspaceServer{s: s})
		meta_storagepb.RegisterMetaStorageServer(srv, &metaStorageServer{s: s})
		return srv
	}
	id := uint64(i)
	tikvpb.RegisterTikvServer(srv, &tikvServer{s: s, id: id, node: cluster.StoreNode(id)})
	return srv
}

// addr returns node i's address: 0 for PD, i for store i.
func (s *Server) addr(i int) string {
	if i == 0 {
		return s.pdAddr
	}
	return s.storeAddrs[i-1]
}

// stopServer closes node i's server and listener, as a crashed TiKV's or
// PD's connections die: clients see refused connections until it restarts.
func (s *Server) stopServer(i int) {
	s.srvMu.Lock()
	srv, lis := s.servers[i], s.listeners[i]
	s.servers[i], s.listeners[i] = nil, nil
	s.srvMu.Unlock()
	if srv != nil {
		srv.Stop()
		_ = lis.Close()
	}
}

// restartServer listens again on node i's address and serves it.
func (s *Server) restartServer(i int) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.servers[i] != nil || s.stopped {
		return nil
	}
	lis, err := net.Listen("tcp", s.addr(i))
	if err != nil {
		return fmt.Errorf("restarted, but %s cannot be listened on again: %w", s.addr(i), err)
	}
	srv := s.newServer(i)
	s.servers[i], s.listeners[i] = srv, lis
	s.serve(srv, lis)
	return nil
}

func (s *Server) keyMode() string {
	switch {
	case s.cfg.Cluster.APIVersion == kvrpcpb.APIVersion_V2:
		return "API V2"
	case s.cfg.RawKeys:
		return "raw"
	}
	return "transactional"
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l != nil {
			_ = l.Close()
		}
	}
}

// PDAddr returns the PD server's host:port.
func (s *Server) PDAddr() string { return s.pdAddr }

// StoreAddrs returns each store's host:port, ordered by store id (store 1
// first).
func (s *Server) StoreAddrs() []string { return append([]string(nil), s.storeAddrs...) }

// storeAddr maps a simulated store address ("store2") to its real one.
func (s *Server) storeAddr(simAddr string) string {
	for i := range s.storeAddrs {
		if simAddr == cluster.StoreNode(uint64(i+1)) {
			return s.storeAddrs[i]
		}
	}
	return simAddr
}

// Do applies one cluster action, written as sim/cluster's ParseAction reads
// it (split("k"), merge("k"), transfer("k",2), crash(2), restart(2), busy(2),
// idle(2), pd-crash, pd-restart, pd-leader, tso-jump(10s)), inside the
// running world, and returns the action followed by the region layout after
// it. Keys are user keys. It also applies a network fault as sim/network's
// Parse reads it (delay(grpc->store1,20ms-50ms), drop(0.05),
// isolate(store2), heal, ...) to the simulated network between the gRPC
// clients (node "grpc"), PD ("pd") and the stores ("store1".."storeN"), and
// returns the fault.
func (s *Server) Do(action string) (string, error) {
	a, err := cluster.ParseAction(action)
	if err != nil {
		f, ferr := network.Parse(action)
		if ferr != nil {
			return "", &ActionError{Action: action, Err: fmt.Errorf("neither a cluster action (%v) nor a network fault (%v)", err, ferr)}
		}
		return s.fault(action, f)
	}
	var out string
	err = s.inWorld(func() error {
		if err := a.Apply(s.c); err != nil {
			return err
		}
		out = a.String() + "\n" + s.describeRegions()
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return "", err
		}
		return "", &ActionError{Action: action, Err: err}
	}
	// A crashed node's server goes away with it (ids were checked by Apply).
	var restart error
	switch a := a.(type) {
	case cluster.CrashAction:
		s.stopServer(int(a.Store))
	case cluster.RestartAction:
		restart = s.restartServer(int(a.Store))
	case cluster.PDAction:
		switch a.Op {
		case "crash":
			s.stopServer(0)
		case "restart":
			restart = s.restartServer(0)
		}
	}
	if restart != nil {
		return "", &ActionError{Action: action, Err: restart}
	}
	s.cfg.Logf("serve: applied %s", a)
	return out, nil
}

// fault applies a network fault inside the world.
func (s *Server) fault(action string, f network.Fault) (string, error) {
	err := s.inWorld(func() error { return f.Apply(s.net) })
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return "", err
		}
		return "", &ActionError{Action: action, Err: err}
	}
	s.cfg.Logf("serve: applied %s", f)
	return f.String(), nil
}

// CreateKeyspace creates an enabled keyspace in the fake PD, as PD's admin
// API does (sim/cluster CreateKeyspace): its region boundaries are raw-mode
// when raw, else transactional, and on an API V2 cluster PD splits the
// regions at them. Clients then load it with keyspacepb LoadKeyspace.
func (s *Server) CreateKeyspace(name string, raw bool) (*keyspacepb.KeyspaceMeta, error) {
	var m *keyspacepb.KeyspaceMeta
	err := s.inWorld(func() error {
		var err error
		m, err = s.c.CreateKeyspace(name, raw)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, &ActionError{Action: "create keyspace " + name, Err: err}
	}
	s.cfg.Logf("serve: created keyspace %s (id %d)", name, m.GetId())
	return m, nil
}

// safeTS computes store id's safe ts inside the world (see
// tikvServer.GetStoreSafeTS).
func (s *Server) safeTS(ctx context.Context, id uint64) (uint64, error) {
	deadline, ok := ctx.Deadline()
	var safe uint64
	err := s.inWorld(func() error {
		if !ok {
			deadline = s.w.Now().Add(time.Second)
		}
		wctx, cancel := s.w.WithDeadline(context.Background(), deadline)
		defer cancel()
		out, err := s.net.Call(wctx, cluster.StoreNode(id), cluster.PDNode, &pdpb.TsoRequest{Header: &pdpb.RequestHeader{ClusterId: s.clusterID}, Count: 1})
		if err != nil {
			return err
		}
		tr, ok := out.(*pdpb.TsoResponse)
		if !ok || tr.GetTimestamp() == nil {
			return fmt.Errorf("serve: PD answered %T to a TSO request", out)
		}
		safe = pd.ComposeTS(tr.Timestamp.Physical, tr.Timestamp.Logical)
		locks := s.c.Engine().ScanLock(&kvrpcpb.ScanLockRequest{MaxVersion: safe})
		for _, l := range locks.GetLocks() {
			if l.LockType != kvrpcpb.Op_PessimisticLock && l.LockVersion <= safe {
				safe = l.LockVersion - 1
			}
		}
		return nil
	})
	return safe, err
}

// Regions describes the current regions, one per line: id, range (user
// keys), epoch, peers and leader store.
func (s *Server) Regions() (string, error) {
	var out string
	err := s.inWorld(func() error {
		out = s.describeRegions()
		return nil
	})
	return out, err
}

// describeRegions runs inside the world.
func (s *Server) describeRegions() string {
	var b strings.Builder
	for _, r := range s.c.Regions() {
		peers := make([]string, len(r.Peers))
		for i, p := range r.Peers {
			peers[i] = fmt.Sprintf("%d@s%d", p.Id, p.StoreId)
		}
		leader := "none (election)"
		if id := s.c.Leader(r.Id); id != 0 {
			leader = fmt.Sprintf("s%d", id)
		}
		fmt.Fprintf(&b, "region %d [%s, %s) epoch %d/%d peers %s leader %s\n", r.Id,
			s.userKey(r.StartKey, "-inf"), s.userKey(r.EndKey, "+inf"),
			r.GetRegionEpoch().GetConfVer(), r.GetRegionEpoch().GetVersion(),
			strings.Join(peers, ","), leader)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// userKey prints a region boundary as the user key it stands for.
func (s *Server) userKey(b []byte, empty string) string {
	if len(b) == 0 {
		return empty
	}
	if !s.cfg.RawKeys {
		if _, k, err := codec.DecodeBytes(b, nil); err == nil {
			b = k
		}
	}
	return strconv.Quote(string(b))
}

// Close stops the gRPC servers and the world, and waits for the world to
// end. It returns the world's failure, if a task panicked.
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		<-s.ended
		return s.runErr
	}
	s.closed = true
	s.closeMu.Unlock()
	s.stopServers()
	s.cancel()
	<-s.ended
	return s.runErr
}

// stopServers stops every gRPC server (their handlers return) and closes
// the listeners; no server restarts afterwards.
func (s *Server) stopServers() {
	s.srvMu.Lock()
	s.stopped = true
	srvs, liss := s.servers, s.listeners
	s.servers, s.listeners = make([]*grpc.Server, len(srvs)), make([]net.Listener, len(liss))
	s.srvMu.Unlock()
	for i, srv := range srvs {
		if srv != nil {
			srv.Stop()
			_ = liss[i].Close()
		}
	}
}

// Help lists the actions Do understands.
const Help = `actions (keys are user keys, stores are ids 1..N):
  split("k")          split the region containing k at k
  merge("k")          merge the region containing k into a neighbour
  transfer("k",2)     move that region's leader to store 2
  crash(2)            crash store 2 (volatile state lost; leaders move after the election timeout)
  restart(2)          restart store 2
  busy(2) / idle(2)   store 2 answers ServerIsBusy / stops doing so
  pd-crash            PD loses its leader (every PD call fails) until pd-restart
  pd-restart          PD elects a leader again
  pd-leader           PD leader change (TSO and ids continue above the old leader's)
  tso-jump(10s)       PD's physical clock jumps forward
network faults (nodes: grpc = every gRPC client, pd, store1..storeN):
  delay(grpc->store1,20ms-50ms)  one-way latency of a link (delay(1ms-5ms): every link)
  drop(0.05) / dup(0.02) / reorder(0.1)   per-message probabilities (0 turns one off)
  partition(grpc|store2)  groups that cannot reach each other
  oneway(store1->pd) / isolate(store2)
  heal                removes every partition`
