// Package mvcc is the fake TiKV storage engine of the simulator: TiKV's MVCC
// layer, its Percolator transaction commands (optimistic and pessimistic
// two-phase commit, async commit, 1PC, pipelined DML), its raw KV commands,
// its concurrency manager (max_ts and the in-memory lock table), its
// pessimistic-lock wait queues with deadlock detection, and GC.
//
// The package owns everything a single TiKV store does below the region
// layer. Region checks (epoch, leader, key range), Raft, and the network are
// the cluster layer's job; the engine answers with the key errors TiKV
// itself produces.
//
// # Shape
//
// An [Engine] is a pure, deterministic state machine: no goroutines, no clock
// reads, no I/O, no randomness, and no map iteration reaching output. Time
// enters only as arguments (raw TTL expiry takes the simulated now). Every
// command takes a kvrpcpb request and returns the kvrpcpb response TiKV would
// send; a command never blocks and never panics on a malformed request. An
// Engine is safe for concurrent use: one internal mutex serialises commands,
// which matches TiKV's per-key latches for our purposes (a command sees and
// applies atomically).
//
// # Storage
//
// Three column families (default, lock, write) live in ordered B-trees
// (github.com/google/btree). Keys are TiKV's: the memcomparable encoding of
// the user key, followed for default and write by the bitwise-negated
// timestamp (big endian), so newer versions sort first, exactly as in
// components/txn_types/src/types.rs. Lock and Write records are kept as Go
// structs mirroring components/txn_types/src/{lock.rs,write.rs}. Raw KV data
// lives in its own trees per column family so that raw and transactional data
// never mix (TiKV separates them by API V2 key prefixes; under API V1 mixing
// them is undefined behaviour anyway).
//
// # Pessimistic lock waiting (driven from outside)
//
// See [Engine.PessimisticLock], [LockWait], [Engine.Ready] and
// [Engine.CancelLockWait]. When a PessimisticLock request meets another
// transaction's lock and is allowed to wait, the engine queues a waiter and
// returns a LockWait instead of a response. Commands that release locks
// queue wake-ups; the caller drains them with Ready after every command. This
// follows etcd raft's Ready pattern and TiKV's
// src/storage/lock_manager/lock_waiting_queue.rs.
//
// # Crash model
//
// [Engine.Restart] simulates a TiKV process restart: everything applied to the
// column families survives; in-memory pessimistic locks (TiKV's
// pessimistic-txn.in-memory, on by default), max_ts, the memory lock table,
// the lock wait queues and the deadlock detector's graph are lost.
package mvcc
