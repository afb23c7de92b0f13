// Package locate is the client's routing table: the region cache and the
// store cache. It answers "which region holds this key, and which store do I
// send to", loads what it does not know from PD, and takes feedback from the
// request sender (NotLeader, EpochNotMatch, send failures, bucket versions)
// to keep the answers fresh.
//
// The semantics follow tikv/client-go internal/locate (region_cache.go,
// store_cache.go, sorted_btree.go); the code is our own. Where a behaviour
// mirrors client-go the comment names the client-go function.
//
// # Guarantees
//
//   - Regions are indexed by start key in a B-tree and never overlap in the
//     index: inserting a region removes every cached region it overlaps.
//   - A region is never replaced by an older epoch: an insert is refused when
//     the cache holds the same region id with a greater version or conf
//     version, or an overlapping region with a greater version (client-go
//     issue #1079). A lookup whose PD answer is refused as stale backs off and
//     asks PD again instead of returning the stale answer.
//   - Invalidation does not remove a region: it expires it, with a reason
//     (InvalidReason). The next lookup reloads it from PD, and the expired
//     entry still guards against stale PD answers until it is replaced.
//   - These guarantees are relative to the index: a lookup never returns a
//     region older (same id) than, or overlapping a newer version of, a region
//     cached when the lookup started. A region removed from the index (GC of
//     an expired entry, or replacement by a newer overlapping region that
//     leaves part of its range uncovered) is forgotten, as in client-go.
//   - An idle region expires after Options.TTL plus a random jitter in
//     [0, Options.TTLJitter), measured on the runtime's Clock.
//
// # Concurrency
//
// A Cache is safe for concurrent use by many tasks. One sync.RWMutex guards
// the index and is held only for in-memory work, never across a PD call.
// Concurrent loads of the same key, region id or store collapse into one PD
// call (see flightGroup), whose waiters park on an rt.Future so the simulator
// sees the wait. A Region's mutable state (current peer, TTL, flags, buckets)
// is updated with atomics, as in client-go.
//
// # Time and tasks
//
// Time is read only through rt.Clock. The constructor starts nothing: the
// owner runs Cache.Run in a task of its own (for the periodic GC of expired
// regions and the re-resolving of failed stores), and UpdateBucketsIfNeeded
// starts its PD reload through rt.Runtime.Go.
//
// # Use by the request sender
//
// Locate the key (LocateKey, LocateEndKey, LocateRegionByID, or the batch
// forms BatchLocateKeyRanges, GroupKeysByRegion, GroupRangesByRegion), then
// GetRPCContext for the location's RegionVerID; nil means "locate again".
// Feed back what the store answered:
//
//	transport error            OnSendFail(rpc, scheduleReload, err)
//	NotLeader                  UpdateLeader(rpc.Region, leader, rpc.AccessIdx)
//	EpochNotMatch              OnRegionEpochNotMatch(ctx, bo, rpc, current);
//	                           retry=true: back off (RegionMiss) and resend
//	RegionNotFound, KeyNotInRegion, StoreNotMatch, ...
//	                           InvalidateCachedRegionWithReason(rpc.Region, reason)
//	BucketVersionNotMatch      OnBucketVersionNotMatch(rpc, version, keys)
//	newer buckets in a reply   UpdateBucketsIfNeeded(rpc.Region, reqVer, latestVer, nil)
//	data not ready, etc.       ScheduleReload(rpc.Region, delayed)
//
// Every feedback method acts only when rpc.Region is still the cached
// version, so late feedback about a replaced region is harmless.
//
// # Routing
//
// GetRPCContext routes to the leader (the work peer). Replica and stale
// reads choose a replica with a ReplicaSelector (replica_selector.go), a pure
// state machine over the region's TiKV peers that NewReplicaSelectorFor
// builds from the cache (each store's labels and liveness); the sender asks
// GetReplicaRPCContext for the chosen access index and feeds the answers
// back to the selector.
package locate
