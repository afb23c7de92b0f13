package grpc

import (
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func isDeadlineStatus(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	for e := err; e != nil; {
		if s, ok := e.(interface{ GRPCStatus() *status.Status }); ok {
			se = s
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return se != nil && se.GRPCStatus().Code() == codes.DeadlineExceeded
}
