// Package interceptortest holds test helpers for RPC interceptors, kept out
// of package interceptor so production code carries no test scaffolding
// (client-go keeps MockInterceptorManager in its production package,
// tikvrpc/interceptor/interceptor.go).
package interceptortest

import (
	"slices"
	"sync"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/tikvrpc/interceptor"
)

// MockInterceptorManager creates interceptors that record their runs: how
// many began, how many returned, and the names in the order they began.
// It is safe for concurrent use. The zero value is ready to use.
type MockInterceptorManager struct {
	mu      sync.Mutex
	begin   int
	end     int
	execLog []string
}

// NewMockInterceptorManager returns an empty manager.
func NewMockInterceptorManager() *MockInterceptorManager { return &MockInterceptorManager{} }

// CreateMockInterceptor returns an interceptor named name that records its
// begin (with its name) and its end in m, and otherwise passes the request
// through.
func (m *MockInterceptorManager) CreateMockInterceptor(name string) interceptor.RPCInterceptor {
	return interceptor.NewRPCInterceptor(name, func(next interceptor.RPCInterceptorFunc) interceptor.RPCInterceptorFunc {
		return func(target string, req *tikvrpc.Request) (*tikvrpc.Response, error) {
			m.mu.Lock()
			m.execLog = append(m.execLog, name)
			m.begin++
			m.mu.Unlock()
			defer func() {
				m.mu.Lock()
				m.end++
				m.mu.Unlock()
			}()
			return next(target, req)
		}
	})
}

// Reset clears the counters and the log.
func (m *MockInterceptorManager) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.begin, m.end, m.execLog = 0, 0, nil
}

// BeginCount returns how many intercepted calls began.
func (m *MockInterceptorManager) BeginCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.begin
}

// EndCount returns how many intercepted calls returned.
func (m *MockInterceptorManager) EndCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.end
}

// ExecLog returns a copy of the names of the interceptors that ran, in the
// order they began.
func (m *MockInterceptorManager) ExecLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.execLog)
}
