// Package metrics holds the client's Prometheus collectors (client-go
// metrics/metrics.go, the subset on the request path): RPCs by command and
// outcome with their latency, region errors by kind, and backoff sleeps by
// config. A nil *Metrics is valid and records nothing, so instrumented code
// needs no checks. Collectors are registered on the registry the caller
// passes: there is no global registry.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is one client's set of collectors.
type Metrics struct {
	rpc          *prometheus.CounterVec
	rpcDuration  *prometheus.HistogramVec
	regionErrors *prometheus.CounterVec
	backoffs     *prometheus.CounterVec
	backoffSleep *prometheus.CounterVec
}

// New creates the collectors under namespace (default "tikvsim") and
// registers them on reg.
func New(reg prometheus.Registerer, namespace string) (*Metrics, error) {
	if namespace == "" {
		namespace = "tikvsim"
	}
	m := &Metrics{
		rpc: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "client", Name: "rpc_total",
			Help: "RPCs sent to stores, by command and result (ok, region_error, not_sent, undetermined)."}, []string{"type", "result"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "client", Name: "rpc_duration_seconds",
			Help: "Latency of one RPC attempt, by command.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)}, []string{"type"}),
		regionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "client", Name: "region_errors_total",
			Help: "Region errors stores answered, by kind."}, []string{"kind"}),
		backoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "client", Name: "backoff_total",
			Help: "Backoff sleeps, by backoff config."}, []string{"type"}),
		backoffSleep: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "client", Name: "backoff_seconds_total",
			Help: "Time slept backing off, by backoff config."}, []string{"type"}),
	}
	for _, c := range []prometheus.Collector{m.rpc, m.rpcDuration, m.regionErrors, m.backoffs, m.backoffSleep} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// The RPC results.
const (
	ResultOK           = "ok"
	ResultRegionError  = "region_error"
	ResultNotSent      = "not_sent"
	ResultUndetermined = "undetermined"
)

// ObserveRPC records one RPC attempt.
func (m *Metrics) ObserveRPC(cmd, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.rpc.WithLabelValues(cmd, result).Inc()
	m.rpcDuration.WithLabelValues(cmd).Observe(d.Seconds())
}

// RegionError records a region error of the given kind.
func (m *Metrics) RegionError(kind string) {
	if m == nil {
		return
	}
	m.regionErrors.WithLabelValues(kind).Inc()
}

// Backoff records one backoff sleep.
func (m *Metrics) Backoff(kind string, slept time.Duration) {
	if m == nil {
		return
	}
	m.backoffs.WithLabelValues(kind).Inc()
	m.backoffSleep.WithLabelValues(kind).Add(slept.Seconds())
}

// RegionErrorCounter returns the counter of one region error kind, for
// tests and dashboards built in code.
func (m *Metrics) RegionErrorCounter(kind string) prometheus.Counter {
	return m.regionErrors.WithLabelValues(kind)
}

// BackoffCounter returns the sleep counter of one backoff config.
func (m *Metrics) BackoffCounter(kind string) prometheus.Counter {
	return m.backoffs.WithLabelValues(kind)
}
