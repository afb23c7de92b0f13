// Package pd is the fake PD's server logic as a pure state machine.
//
// # What it owns
//
// One *PD value models a whole PD cluster (its members, the leader, the
// leader's in-memory state and the data PD keeps in etcd) as the client and
// the stores see it through the PD leader:
//
//   - cluster id, members and the PD leader (GetMembers, GetClusterInfo);
//   - the TSO: physical milliseconds + 18 logical bits, batch allocation, the
//     persisted window upper bound (pkg/tso/tso.go syncTimestamp /
//     updateTimestamp / saveTimestamp), logical-overflow handling, GetMinTS;
//   - the ID allocator (AllocID, persisted window like pkg/id/id.go) and
//     the ids TiKV asks for before a split (AskBatchSplit, ReportBatchSplit);
//   - the external timestamp (Get/SetExternalTimestamp);
//   - Bootstrap / IsBootstrapped;
//   - stores (PutStore, GetStore, GetAllStores, StoreHeartbeat, state
//     Up/Offline/Tombstone, labels, version, cluster version);
//   - the region tree fed only by RegionHeartbeat, so PD lags reality exactly
//     as the real one does (pkg/core/region.go, region_tree.go), and the
//     region queries (GetRegion, GetPrevRegion, GetRegionByID, ScanRegions,
//     BatchScanRegions, QueryRegion);
//   - split and scatter operators (StartSplitRegions / PollSplitRegions,
//     ScatterRegion, GetOperator);
//   - the GC-states API (pkg/gc/gc_state_manager.go, server/gc_service.go);
//   - keyspace metadata for API V2 (LoadKeyspace, LoadKeyspaceByID,
//     CreateKeyspace; pkg/keyspace/keyspace.go);
//   - the cluster config (GetClusterConfig).
//
// # Purity
//
// The package starts no goroutines, never reads a clock (every method that
// needs the time takes now from the simulated clock), does no I/O and uses no
// global randomness (member and cluster ids derive from Config.Seed). No map
// iteration reaches an output: everything returned is sorted. A *PD is safe
// for concurrent use: every method takes an internal sync.Mutex for its whole
// (non-blocking) body and never waits while holding it.
//
// # RPC methods
//
// There is one method per PD RPC, named after it, taking the current time and
// the kvproto request and returning the kvproto response and an error:
//
//	func (p *PD) GetRegion(now time.Time, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error)
//
// As in PD's gRPC handlers (server/grpc_service.go), most failures are
// reported inside the response header (pdpb.Error with its ErrorType); the
// error result is reserved for the cases where real PD fails the gRPC call
// itself (not leader, cluster-id mismatch, TSO generation failures, ...). Such
// an error is a *StatusError and carries a gRPC status (GRPCStatus), so a
// real gRPC server can return it unchanged and the simulated network can
// classify it. Requests may be malformed (nil header, nil region, empty keys):
// the answer is the error PD would give, never a panic. Returned messages are
// fresh copies; callers own them. Requests are never retained or mutated.
//
// Streams are modelled per message: Tso, RegionHeartbeat, QueryRegion and
// ReportBuckets take one request and return what PD would send back for it
// (RegionHeartbeat returns nil when PD sends nothing).
//
// # Leader, crash and restart
//
// LeaderID names the member that serves; a simulated node for another member
// should answer ErrNotLeader. ChangeLeader moves leadership and models what the
// new leader does on election: it syncs the TSO from the persisted window
// (starting strictly above everything the old leader could hand out), rebases
// the ID allocator to its persisted bound, reloads regions from storage without
// their leaders (learned again from heartbeats), and starts with no operators.
// Crash leaves the cluster without a leader (every RPC fails with
// ErrNotLeader) and Restart elects a leader again, with the same effect.
//
// # Time-driven work: Tick
//
// The owner calls Tick(now) at least every Config.TSOUpdatePhysicalInterval of
// simulated time. Tick advances the TSO physical time and its persisted
// window (PD's allocatorUpdater loop), times out operators and runs the
// keyspace-boundary split checker. Without Tick the TSO physical time only
// moves on logical overflow.
//
// # Ids and replicas
//
// As with TiKV, the cluster layer should take every store, region and peer
// id from AllocID (also the ones it bootstraps with, and AskBatchSplit's for
// splits); scatter Ops allocate their new peer ids the same way. Without
// placement rules a region counts as fully replicated when it has exactly
// Config.MaxPeerCount peers and no learner; set MaxPeerCount to the cluster's
// replica count (1 for single-replica regions) or scatters and splits will
// refuse the regions, as PD does.
//
// # Pending operations: the contract with the cluster layer
//
// PD does not move data. Split and scatter operators (and the keyspace
// boundary splits PD asks for when a keyspace is created) become Ops in a
// queue. The cluster layer drains it with Ready(), executes each Op against
// the real topology whenever it likes (or never: an Op may be dropped, like a
// lost heartbeat response), and the stores report the outcome with ordinary
// RegionHeartbeats. PD never assumes an Op ran: it marks an operator SUCCESS
// only when heartbeats show its effect (split keys became region boundaries,
// the region's peers and leader sit on the target stores), CANCEL when the
// region's epoch moved past the operator in another way, and TIMEOUT after
// Config.OperatorTimeout. Ops carry the region epoch they were computed
// against; the executor should ignore an Op whose epoch is stale, as TiKV
// does.
//
// SplitRegions blocks in real PD until the splits are seen or a timeout
// passes. Here it is split in two: StartSplitRegions queues the split Ops and
// returns a job (or an immediate response when nothing needs waiting), and
// PollSplitRegions, called every SplitWatchInterval of simulated time,
// returns the final response once the job is done (a real gRPC server does
// the same with real sleeps).
//
// # Faults
//
// JumpTSOPhysical moves the PD leader's clock (forward or back); the TSO
// stays strictly monotonic through it, through leader changes and restarts.
//
// # Deprecated RPCs
//
// The deprecated GC paths UpdateGCSafePoint and UpdateServiceGCSafePoint are
// LEGACY (see the project's parity list) and are answered with an
// Unimplemented error naming their replacement. GetGCSafePoint is served
// read-only because TiKV's GC worker still polls it.
package pd
