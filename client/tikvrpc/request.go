package tikvrpc

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"
)

// ReplicaReadType says which replicas may serve a read. Package kv
// re-exports it.
type ReplicaReadType byte

// The replica read kinds, numbered as in client-go kv.
const (
	// ReplicaReadLeader reads from the leader.
	ReplicaReadLeader ReplicaReadType = iota
	// ReplicaReadFollower reads from a follower.
	ReplicaReadFollower
	// ReplicaReadMixed reads from the leader, followers or learners.
	ReplicaReadMixed
	// ReplicaReadLearner reads from a learner.
	ReplicaReadLearner
	// ReplicaReadPreferLeader reads from the leader and turns to followers
	// when the leader is unhealthy.
	ReplicaReadPreferLeader
)

// IsFollowerRead reports whether replicas other than the leader may serve.
func (r ReplicaReadType) IsFollowerRead() bool { return r != ReplicaReadLeader }

// String implements fmt.Stringer.
func (r ReplicaReadType) String() string {
	switch r {
	case ReplicaReadLeader:
		return "leader"
	case ReplicaReadFollower:
		return "follower"
	case ReplicaReadMixed:
		return "mixed"
	case ReplicaReadLearner:
		return "learner"
	case ReplicaReadPreferLeader:
		return "prefer-leader"
	}
	return fmt.Sprintf("unknown-%d", byte(r))
}

// Request is one command on its way to a store.
//
// The embedded kvrpcpb.Context is the envelope's copy of the context; the
// typed request gets it only through AttachContext, which the transport
// calls right before sending (SetContextNoAttach fills the envelope copy).
// Req must not be modified in place once the request has been sent: a batch
// send loop may still be reading it. AttachContext patches a copy for that
// reason.
type Request struct {
	// Type is the command.
	Type CmdType
	// Req is the typed kvproto request, e.g. *kvrpcpb.RawGetRequest.
	Req any
	kvrpcpb.Context

	// ReplicaReadType is the client-side replica choice; Context.ReplicaRead
	// is its wire form (true for every kind but leader).
	ReplicaReadType ReplicaReadType
	// ReplicaReadSeed, when set, picks the follower deterministically.
	ReplicaReadSeed *uint32
	// StoreTp is the kind of store the request is for.
	StoreTp EndpointType
	// ForwardedHost, when set, asks the receiving store to forward the
	// request to this address (used when the leader is unreachable).
	ForwardedHost string
	// ReplicaNumber is the region's replica count, for RU accounting.
	ReplicaNumber int64
	// ReadType is the read type chosen on the first try (for metrics).
	ReadType string
	// InputRequestSource is the caller's request source; the request
	// sender derives Context.RequestSource from it and the retry state.
	InputRequestSource string

	rev uint32 // times AttachContext patched Req
}

// NewRequest returns a Request for typ carrying req (the kvproto request
// matching typ) and, optionally, a context.
func NewRequest(typ CmdType, req any, ctx ...kvrpcpb.Context) *Request {
	r := &Request{Type: typ, Req: req}
	if len(ctx) > 0 {
		r.Context = ctx[0]
	}
	return r
}

// NewReplicaReadRequest is NewRequest with a replica read kind and seed.
func NewReplicaReadRequest(typ CmdType, req any, replicaReadType ReplicaReadType, seed *uint32, ctx ...kvrpcpb.Context) *Request {
	r := NewRequest(typ, req, ctx...)
	r.SetReplicaReadType(replicaReadType)
	r.ReplicaReadSeed = seed
	return r
}

// SetReplicaReadType sets the replica read kind and its wire flag.
func (req *Request) SetReplicaReadType(t ReplicaReadType) {
	req.ReplicaRead = t.IsFollowerRead()
	req.ReplicaReadType = t
}

// GetReplicaReadSeed returns ReplicaReadSeed, nil for a nil req.
func (req *Request) GetReplicaReadSeed() *uint32 {
	if req == nil {
		return nil
	}
	return req.ReplicaReadSeed
}

// EnableStaleWithMixedReplicaRead turns the request into a stale read that
// any replica may serve.
func (req *Request) EnableStaleWithMixedReplicaRead() {
	req.StaleRead = true
	req.ReplicaReadType = ReplicaReadMixed
	req.ReplicaRead = false
}

// DisableStaleReadMeetLock turns a stale read into a leader read after it
// met a lock.
func (req *Request) DisableStaleReadMeetLock() {
	req.StaleRead = false
	req.ReplicaReadType = ReplicaReadLeader
}

// SetResourceGroupName sets the resource group the request is charged to.
func (req *Request) SetResourceGroupName(name string) {
	if req.ResourceControlContext == nil {
		req.ResourceControlContext = &kvrpcpb.ResourceControlContext{}
	} else {
		cp := *req.ResourceControlContext
		req.ResourceControlContext = &cp
	}
	req.ResourceControlContext.ResourceGroupName = name
}

// GetResourceGroupName returns the resource group, "" if none.
func (req *Request) GetResourceGroupName() string {
	return req.ResourceControlContext.GetResourceGroupName()
}

// SetRequestSource sets the caller's request source (e.g. "external_rawkv")
// both as input and on the wire.
func (req *Request) SetRequestSource(src string) {
	req.InputRequestSource = src
	req.RequestSource = src
}

// IsInterruptible reports whether the request may be abandoned when the
// operation is killed: everything but the writes that finish or clean up a
// transaction.
func (req *Request) IsInterruptible() bool {
	switch req.Type {
	case CmdPessimisticRollback, CmdBatchRollback, CmdCommit:
		return false
	}
	return true
}

// IsTxnWriteRequest reports whether the command writes transactional state.
func (req *Request) IsTxnWriteRequest() bool {
	switch req.Type {
	case CmdPessimisticLock, CmdPrewrite, CmdCommit, CmdBatchRollback, CmdPessimisticRollback,
		CmdCheckTxnStatus, CmdCheckSecondaryLocks, CmdCleanup, CmdTxnHeartBeat, CmdResolveLock,
		CmdFlashbackToVersion, CmdPrepareFlashbackToVersion, CmdFlush:
		return true
	}
	return false
}

// IsRawWriteRequest reports whether the command writes raw KV data. Unlike
// client-go (RawPut, RawBatchPut, RawDelete only), every raw write counts,
// so write-only policies (undetermined-result handling, RU accounting) see
// batch deletes, range deletes and CAS too.
func (req *Request) IsRawWriteRequest() bool {
	switch req.Type {
	case CmdRawPut, CmdRawBatchPut, CmdRawDelete, CmdRawBatchDelete, CmdRawDeleteRange, CmdRawCompareAndSwap:
		return true
	}
	return false
}

// GetStartTS returns the transaction start ts the command carries, 0 for
// commands without one.
func (req *Request) GetStartTS() uint64 {
	switch r := req.Req.(type) {
	case *kvrpcpb.GetRequest:
		return r.GetVersion()
	case *kvrpcpb.ScanRequest:
		return r.GetVersion()
	case *kvrpcpb.PrewriteRequest:
		return r.GetStartVersion()
	case *kvrpcpb.CommitRequest:
		return r.GetStartVersion()
	case *kvrpcpb.CleanupRequest:
		return r.GetStartVersion()
	case *kvrpcpb.BatchGetRequest:
		return r.GetVersion()
	case *kvrpcpb.BatchRollbackRequest:
		return r.GetStartVersion()
	case *kvrpcpb.ScanLockRequest:
		return r.GetMaxVersion()
	case *kvrpcpb.ResolveLockRequest:
		return r.GetStartVersion()
	case *kvrpcpb.PessimisticLockRequest:
		return r.GetStartVersion()
	case *kvrpcpb.PessimisticRollbackRequest:
		return r.GetStartVersion()
	case *kvrpcpb.TxnHeartBeatRequest:
		return r.GetStartVersion()
	case *kvrpcpb.CheckTxnStatusRequest:
		return r.GetLockTs()
	case *kvrpcpb.CheckSecondaryLocksRequest:
		return r.GetStartVersion()
	case *kvrpcpb.FlashbackToVersionRequest:
		return r.GetStartTs()
	case *kvrpcpb.PrepareFlashbackToVersionRequest:
		return r.GetStartTs()
	case *kvrpcpb.FlushRequest:
		return r.GetStartTs()
	case *kvrpcpb.BufferBatchGetRequest:
		return r.GetVersion()
	case *kvrpcpb.MvccGetByStartTsRequest:
		return r.GetStartTs()
	}
	return 0
}

// GetSize returns the encoded size of the typed request, 0 if unknown.
func (req *Request) GetSize() int {
	if s, ok := req.Req.(interface{ Size() int }); ok {
		return s.Size()
	}
	return 0
}

// AttachContext stores ctx in the envelope and in the typed request, and
// reports whether the command type is known and Req has the matching type.
// Commands without a context (CmdStoreSafeTS, CmdEmpty) only update the
// envelope. From the second call on, the typed request is shallow-copied
// before patching, so a previous version handed to a send loop is never
// modified (client-go's rev mechanism, tikvrpc.go AttachContext).
func AttachContext(req *Request, ctx kvrpcpb.Context) bool {
	req.Context = ctx
	if !req.Type.Valid() {
		return false
	}
	attach := cmds[req.Type].attach
	if attach == nil {
		return true
	}
	c := ctx // the typed request gets its own copy, never the envelope's
	return attach(req, &c)
}

// SetContextNoAttach fills the envelope's region id, epoch and peer. It does
// not touch the typed request: AttachContext does that before sending.
func SetContextNoAttach(req *Request, region *metapb.Region, peer *metapb.Peer) error {
	if !req.Type.Valid() {
		return fmt.Errorf("tikvrpc: invalid request type %v", req.Type)
	}
	if region != nil {
		req.RegionId = region.Id
		req.RegionEpoch = region.RegionEpoch
	}
	req.Peer = peer
	return nil
}

// SetContext is SetContextNoAttach followed by AttachContext.
func SetContext(req *Request, region *metapb.Region, peer *metapb.Peer) error {
	if err := SetContextNoAttach(req, region, peer); err != nil {
		return err
	}
	if !AttachContext(req, req.Context) {
		return fmt.Errorf("tikvrpc: %v request holds %T", req.Type, req.Req)
	}
	return nil
}

func as[T any](v any) T {
	t, _ := v.(T)
	return t
}
