// Package mvcc is the fake TiKV storage engine of the simulator: TiKV's MVCC
// layer, its Percolator transaction commands (optimistic and pessimistic
// two-phase commit, async commit, 1PC, pipelined DML, shared locks), its raw
// KV commands, its concurrency manager (max_ts and the memory lock table),
// its pessimistic-lock wait queues with deadlock detection, and GC.
//
// The package owns everything a single TiKV store does below the region
// layer. Region checks (epoch, leader, key range, MaxTimestampNotSynced),
// Raft, and the network are the cluster layer's job; the engine answers with
// the key errors TiKV itself produces. Behaviour mirrors tikv/tikv; each
// rule cites the TiKV source file it comes from.
//
// # Shape
//
// An [Engine] is a pure, deterministic state machine: no goroutines, no clock
// reads, no I/O, no randomness, and no map iteration reaching output. Time
// enters only as arguments (raw TTL expiry takes the simulated now). Every
// command takes a kvrpcpb request and returns the kvrpcpb response TiKV would
// send; a command never blocks and never panics on a malformed request (nil
// requests included). An Engine is safe for concurrent use: one internal
// mutex serialises commands, each of which reads and applies atomically, so
// TiKV's per-key latches are implied.
//
// # API for the cluster layer
//
// Construct one Engine per store with [New]. Transactional commands: Get,
// BatchGet, Scan, Prewrite, Commit, Cleanup, BatchRollback, CheckTxnStatus,
// CheckSecondaryLocks, ResolveLock, TxnHeartBeat, PessimisticLock,
// PessimisticRollback, ScanLock, DeleteRange, Flush, BufferBatchGet,
// MvccGetByKey. Region-wide forms take the region's [start, end):
// ResolveLockInRange, ScanLockInRange, PessimisticRollbackInRange (the plain
// forms cover the whole engine). Scan and the raw scans use the request's
// keys as given: clip them to the region before calling. Raw commands
// (RawGet, RawBatchGet, RawPut, RawBatchPut, RawDelete, RawBatchDelete,
// RawDeleteRange, RawScan, RawBatchScan, RawCompareAndSwap, RawGetKeyTTL,
// RawChecksum) take the simulated now for TTLs. [Engine.GC] removes versions
// below PD's GC safe point. [Engine.Snapshot] gives checkers a read-only
// view; [Engine.Stats] sizes a key range for split decisions.
//
// Before Prewrite with use_async_commit or try_one_pc the cluster layer must
// answer MaxTimestampNotSynced itself while the region's max_ts is not
// synced (commands/prewrite.rs); after a leader change or restart it fetches
// a PD TSO and calls [Engine.SetMaxTS], and it may keep
// [Engine.SetMaxTSLimit] fed so clients cannot push max_ts beyond PD's TSO.
//
// # Pessimistic lock waiting (driven from outside)
//
// When a PessimisticLock request meets another transaction's lock and may
// wait (wait_timeout >= 0), [Engine.PessimisticLock] queues a waiter and
// returns a [LockWait] instead of a response. The caller parks the request
// and arms a timer of LockWait.Timeout. After every command it calls
// [Engine.Ready] and acts on the result: each [Wakeup] either finishes a
// parked request with Wakeup.Resp (a legacy waiter gets WriteConflict
// PessimisticRetry) or asks the caller to re-issue the original request
// (Wakeup.Retry, resumable ForceLock waiters); each [DelayedNotify] asks
// for [Engine.NotifyDelayed] after its delay (TiKV's
// wake-up-delay-duration). When a timer fires first, [Engine.CancelLockWait]
// returns the KeyIsLocked response TiKV sends on timeout. Deadlocks are
// detected when a waiter parks (unless is_first_lock) and answered at once
// with TiKV's Deadlock error; share one [Detector] between the engines of a
// cluster (Config.Detector) so cycles across stores are found. This follows
// etcd raft's Ready pattern and TiKV's
// src/storage/lock_manager/lock_waiting_queue.rs and
// src/server/lock_manager/deadlock.rs.
//
// # Crash model
//
// [Engine.Restart] simulates a TiKV process restart: everything applied to
// the column families survives, as do prewrite locks and shared locks;
// in-memory pessimistic locks (TiKV's pessimistic-txn.in-memory, on by
// default; Config.DisableInMemoryPessimisticLocks makes them durable),
// max_ts (back to 0 until SetMaxTS), the memory lock table, the lock wait
// queues with their detector edges, and undelivered Ready items are lost.
// Restart returns the tokens of dropped waiters; fail those requests like a
// broken connection. [Engine.DropInMemoryPessimisticLocks] loses a region's
// in-memory pessimistic locks alone (a leader change without lock
// transfer).
//
// # Storage
//
// Three column families (default, lock, write) live in ordered B-trees
// (github.com/google/btree). Keys are TiKV's: the memcomparable encoding of
// the user key, followed for default and write by the bitwise-negated
// timestamp (big endian), so newer versions sort first, exactly as in
// components/txn_types/src/types.rs. Lock and Write records are kept as Go
// structs mirroring components/txn_types/src/{lock.rs,write.rs}; values up
// to 255 bytes are inlined as short values, longer ones go to the default
// CF. Raw KV data lives in its own trees per column family, so raw and
// transactional data never mix (TiKV separates them by API V2 key prefixes;
// under API V1 mixing them is undefined anyway). Raw values are stored in
// TiKV's per-API-version layout ([EncodeRawValue]: V1TTL appends the expire
// ts, V2 an optional expire ts and a meta byte; V2 deletes write
// tombstones); raw keys are not versioned (no API V2 raw MVCC timestamps).
//
// # Known differences from TiKV
//
//   - The memory lock table is populated only inside a command: commands
//     apply atomically, so no reader can run between an async-commit
//     prewrite computing min_commit_ts and its locks becoming visible. The
//     table and the read checks exist (and are tested) for fidelity.
//   - Write commands with start_ts 0 are refused with an abort error;
//     BufferBatchGet on a Lock-type lock answers an abort error where TiKV
//     hits unreachable!().
//   - Detector edges leave with their waiters instead of expiring after
//     wait-for-lock-timeout; legacy waiters keep the edge to the holder
//     they parked on (as in TiKV), resumable ones follow new holders.
//     Share-mode waiters are woken one at a time, not as a group.
//   - Not modelled: TxnStatusCache and BroadcastTxnStatus, flashback,
//     stale and replica reads, last_change_ts, gc_fence, old values for
//     CDC, ExecDetails, key-size limits, API V2 raw MVCC timestamps.
package mvcc
