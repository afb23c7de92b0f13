package pd

import (
	"fmt"

	"github.com/pingcap/kvproto/pkg/pdpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// StatusError is an RPC-level failure: real PD returns it as the gRPC error of
// the call instead of a response. It carries a gRPC code and message
// (pkg/errs/errno.go) and implements GRPCStatus, so status.FromError works on
// it.
type StatusError struct {
	// Code is the gRPC status code PD uses for this failure.
	Code codes.Code
	// Msg is PD's error message.
	Msg string
	// RetryLater is true when the same request may succeed once simulated
	// time has moved on (PD itself would have slept and retried).
	RetryLater bool
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", e.Code, e.Msg)
}

// GRPCStatus returns the gRPC status of the error.
func (e *StatusError) GRPCStatus() *status.Status { return status.New(e.Code, e.Msg) }

// ErrNotLeader is what a PD member that is not the leader (or a cluster with
// no leader) answers (pkg/errs ErrNotLeader).
var ErrNotLeader = &StatusError{Code: codes.Unavailable, Msg: "not leader"}

func errMismatchClusterID(want, got uint64) *StatusError {
	return &StatusError{Code: codes.FailedPrecondition,
		Msg: fmt.Sprintf("mismatch cluster id, need %d but got %d", want, got)}
}

// errUnknown wraps a PD error as codes.Unknown (errs.ErrUnknown).
func errUnknown(msg string) *StatusError {
	return &StatusError{Code: codes.Unknown, Msg: msg}
}

func errGenerateTimestamp(reason string) string {
	return "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, " + reason
}

func errLegacy(rpc, replacement string) *StatusError {
	return &StatusError{Code: codes.Unimplemented,
		Msg: fmt.Sprintf("%s is a deprecated (LEGACY) API not served by the fake PD; use %s", rpc, replacement)}
}

func (p *PD) okHeader() *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: p.clusterID}
}

func (p *PD) errHeader(typ pdpb.ErrorType, msg string) *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: p.clusterID, Error: &pdpb.Error{Type: typ, Message: msg}}
}

func (p *PD) notBootstrappedHeader() *pdpb.ResponseHeader {
	return p.errHeader(pdpb.ErrorType_NOT_BOOTSTRAPPED, "cluster is not bootstrapped")
}

func (p *PD) unknownHeader(msg string) *pdpb.ResponseHeader {
	return p.errHeader(pdpb.ErrorType_UNKNOWN, msg)
}

// validateLocked mirrors validateRoleInRequest: the serving member must be the
// leader and the header must carry our cluster id (a nil header carries 0).
func (p *PD) validateLocked(h *pdpb.RequestHeader) error {
	if p.leader < 0 {
		return ErrNotLeader
	}
	if h.GetClusterId() != p.clusterID {
		return errMismatchClusterID(p.clusterID, h.GetClusterId())
	}
	return nil
}
