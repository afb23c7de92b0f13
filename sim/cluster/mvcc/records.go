package mvcc

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// LockType mirrors txn_types::LockType (components/txn_types/src/lock.rs).
type LockType uint8

// Lock types.
const (
	LockPut LockType = iota
	LockDelete
	LockLock
	LockPessimistic
)

// String returns TiKV's name of the lock type.
func (t LockType) String() string {
	switch t {
	case LockPut:
		return "Put"
	case LockDelete:
		return "Delete"
	case LockLock:
		return "Lock"
	default:
		return "Pessimistic"
	}
}

// op returns the kvrpcpb.Op TiKV reports for a lock type in LockInfo.
func (t LockType) op() kvrpcpb.Op {
	switch t {
	case LockPut:
		return kvrpcpb.Op_Put
	case LockDelete:
		return kvrpcpb.Op_Del
	case LockLock:
		return kvrpcpb.Op_Lock
	default:
		return kvrpcpb.Op_PessimisticLock
	}
}

// Lock is a record of the lock column family, the fields of txn_types::Lock
// that matter to the protocol. Values up to shortValueMaxLen bytes are
// kept inline as ShortValue; longer ones are written to the default CF at
// the lock's start_ts, as TiKV does.
type Lock struct {
	Type        LockType
	Primary     []byte
	StartTS     uint64
	TTL         uint64
	ShortValue  []byte
	HasValue    bool // ShortValue is set (distinguishes an empty short value from none)
	ForUpdateTS uint64
	TxnSize     uint64
	MinCommitTS uint64
	// UseAsyncCommit and Secondaries: async-commit fields; only the primary
	// stores the secondaries.
	UseAsyncCommit bool
	Secondaries    [][]byte
	// UseOnePC marks a 1PC lock held in the memory lock table.
	UseOnePC bool
	// RollbackTS lists start_ts of protected rollbacks that collided with
	// this async-commit lock (mark_rollback_on_mismatching_lock).
	RollbackTS []uint64
	// IsLockedWithConflict marks a ForceLock lock taken over a write
	// conflict.
	IsLockedWithConflict bool
	// Generation is the pipelined-DML flush generation (0 otherwise).
	Generation uint64
	// InMemory marks a pessimistic lock held only in TiKV's memory (the
	// pessimistic-txn.in-memory feature): it is lost on restart.
	InMemory bool
}

func (l *Lock) clone() *Lock {
	c := *l
	c.Primary = append([]byte(nil), l.Primary...)
	c.ShortValue = append([]byte(nil), l.ShortValue...)
	c.Secondaries = cloneKeys(l.Secondaries)
	c.RollbackTS = append([]uint64(nil), l.RollbackTS...)
	return &c
}

func cloneKeys(ks [][]byte) [][]byte {
	if ks == nil {
		return nil
	}
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = append([]byte(nil), k...)
	}
	return out
}

// lockInfo renders the lock as TiKV's Lock::into_lock_info does.
func (l *Lock) lockInfo(rawKey []byte) *kvrpcpb.LockInfo {
	info := &kvrpcpb.LockInfo{
		PrimaryLock:     append([]byte(nil), l.Primary...),
		LockVersion:     l.StartTS,
		Key:             append([]byte(nil), rawKey...),
		LockTtl:         l.TTL,
		TxnSize:         l.TxnSize,
		LockType:        l.Type.op(),
		LockForUpdateTs: l.ForUpdateTS,
		UseAsyncCommit:  l.UseAsyncCommit,
		MinCommitTs:     l.MinCommitTS,
		Secondaries:     cloneKeys(l.Secondaries),
	}
	return info
}

// WriteType mirrors txn_types::WriteType (components/txn_types/src/write.rs).
type WriteType uint8

// Write types.
const (
	WritePut WriteType = iota
	WriteDelete
	WriteLock
	WriteRollback
)

// String returns TiKV's name of the write type.
func (t WriteType) String() string {
	switch t {
	case WritePut:
		return "Put"
	case WriteDelete:
		return "Delete"
	case WriteLock:
		return "Lock"
	default:
		return "Rollback"
	}
}

func (t WriteType) op() kvrpcpb.Op {
	switch t {
	case WritePut:
		return kvrpcpb.Op_Put
	case WriteDelete:
		return kvrpcpb.Op_Del
	case WriteLock:
		return kvrpcpb.Op_Lock
	default:
		return kvrpcpb.Op_Rollback
	}
}

// Write is a record of the write column family, keyed by key+^commit_ts.
type Write struct {
	Type       WriteType
	StartTS    uint64
	ShortValue []byte
	HasValue   bool
	// Protected marks a rollback that must never be collapsed
	// (PROTECTED_ROLLBACK_SHORT_VALUE in write.rs).
	Protected bool
	// HasOverlappedRollback: a protected rollback of another txn whose
	// start_ts equals this record's commit_ts was folded into this record.
	HasOverlappedRollback bool
}

// shortValueMaxLen is SHORT_VALUE_MAX_LEN (components/txn_types/src/lib.rs).
const shortValueMaxLen = 255
