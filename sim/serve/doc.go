// Package serve runs the simulator's fake cluster (sim/cluster: one fake PD
// and N fake TiKV stores) in real time and serves it over gRPC on loopback, so
// that production clients (the newest github.com/tikv/pd/client, client-go,
// this module's client/transport/grpc, other languages' clients) can be
// pointed at it.
//
// # What it owns
//
// Start builds a real-time sim.World (sim.NewRealtime: virtual time follows
// the wall clock, World.Now is the wall-clock time), a zero-latency simulated
// network and the cluster on it, runs the world on its own goroutine, and
// starts one gRPC server for PD and one per store, each on its own loopback
// port. The cluster code is exactly the simulator's; only the clock and the
// entry points differ.
//
// A gRPC handler never touches the world directly: it injects a task
// (World.Inject) that makes the kvproto call over the simulated network to the
// PD node or the store node, exactly as the simulated client does, and waits
// for the answer on a channel (bridge.go, the package's only code with
// goroutines, channel selects and the wall clock; it is allow-listed in
// internal/guard). A handler's gRPC deadline becomes the simulated call's
// deadline.
//
// # What is served
//
// The PD server answers what the newest PD client calls (read from
// tikv/pd client/ at afa43111d149): pdpb.PD GetMembers, GetClusterInfo, Tso and
// QueryRegion (bidi streams, one response per request, in order), GetRegion,
// GetPrevRegion, GetRegionByID, ScanRegions, BatchScanRegions, GetStore,
// GetAllStores, the GC-states calls (GetGCState, GetAllKeyspacesGCStates,
// AdvanceTxnSafePoint, AdvanceGCSafePoint, Set/DeleteGCBarrier,
// Set/DeleteGlobalGCBarrier, GetGCSafePoint), GetMinTS, SplitRegions,
// ScatterRegion, GetOperator, AllocID, IsBootstrapped, GetClusterConfig and
// the external timestamp; keyspacepb.Keyspace LoadKeyspace and
// LoadKeyspaceByID; meta_storagepb.MetaStorage Get (always an empty answer);
// and grpc.health.v1.Health. Replies are the fake PD's, whose headers, cluster
// id and errors mirror server/grpc_service.go.
//
// Two answers are rewritten on the way out, because the simulated cluster
// names its nodes "pd" and "storeN": GetMembers gives the leader the PD
// server's URL (followers get none, so a client never dials a member that
// does not exist: one server plays every member, and a PD leader change keeps
// the URL), and GetStore / GetAllStores carry each store's real host:port.
//
// Each store server answers tikvpb.Tikv BatchCommands (every entry served
// concurrently, answered as it completes) and the unary method of every
// command the storage engine implements, plus SplitRegion,
// UnsafeDestroyRange, GetHealthFeedback (never slow) and GetStoreSafeTS (as
// TiKV's resolved-ts advance: a fresh PD timestamp, below the oldest lock
// that may still commit).
//
// # Faults while serving
//
// Server.Do applies one printable cluster action (sim/cluster ParseAction
// syntax: split("k"), transfer("k",2), crash(2), pd-leader, ...) or network
// fault (sim/network Parse syntax, on the nodes "grpc" for every gRPC
// client, "pd" and "store1".."storeN": delay(grpc->store1,50ms),
// partition(grpc|store2), drop(0.05), heal, ...) inside the running world,
// so clients can be watched surviving a split, a leader transfer, a crash or
// a slow link. Server.CreateKeyspace adds keyspaces (API V2). A crashed store's gRPC server stops (its connections
// break, requests in flight end as a broken connection ends them, new ones
// are refused) and serves again on the same address after restart; so does
// the PD server on pd-crash and pd-restart.
package serve
