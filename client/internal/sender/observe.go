package sender

import (
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/metrics"
	"github.com/tikvsim/tikvsim/client/rt"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
)

// Observer is what the sender reports to: metrics and a logger, timed on
// Clock. The zero Observer reports nothing.
type Observer struct {
	Clock   rt.Clock
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// SetObserver sets where the sender reports RPCs, region errors and
// backoffs. Call it before the sender is used.
func (s *Sender) SetObserver(o Observer) { s.obs = o }

// BackoffEnv returns a Backoffer environment on r whose sleeps are counted in
// the sender's metrics.
func (s *Sender) BackoffEnv(r rt.Runtime) retry.Env {
	env := retry.Env{Clock: r, Rand: r.NewRand()}
	if m := s.obs.Metrics; m != nil {
		env.Observe = func(cfg *retry.Config, slept time.Duration) { m.Backoff(cfg.String(), slept) }
	}
	return env
}

func (s *Sender) now() time.Time {
	if s.obs.Clock == nil {
		return time.Time{}
	}
	return s.obs.Clock.Now()
}

// observe reports one RPC attempt.
func (s *Sender) observe(req *tikvrpc.Request, addr string, start time.Time, resp *tikvrpc.Response, err error) {
	if s.obs.Metrics == nil && s.obs.Logger == nil {
		return
	}
	var d time.Duration
	if s.obs.Clock != nil {
		d = s.obs.Clock.Now().Sub(start)
	}
	result := metrics.ResultOK
	var regionErr *errorpb.Error
	switch {
	case err != nil && transport.IsNotSent(err):
		result = metrics.ResultNotSent
	case err != nil:
		result = metrics.ResultUndetermined
	default:
		if regionErr, _ = resp.GetRegionError(); regionErr != nil {
			result = metrics.ResultRegionError
		}
	}
	cmd := req.Type.String()
	s.obs.Metrics.ObserveRPC(cmd, result, d)
	if regionErr != nil {
		kind := RegionErrorKind(regionErr)
		s.obs.Metrics.RegionError(kind)
		if l := s.obs.Logger; l != nil {
			l.Debug("region error", "cmd", cmd, "addr", addr, "region", req.Context.GetRegionId(), "kind", kind, "msg", regionErr.GetMessage())
		}
	}
	if err != nil && s.obs.Logger != nil {
		s.obs.Logger.Debug("send failed", "cmd", cmd, "addr", addr, "region", req.Context.GetRegionId(), "result", result, "err", err)
	}
}

// RegionErrorKind names a region error by its set field in snake case
// ("not_leader", "epoch_not_match", ...), "unknown" when none is set
// (client-go regionErrorToLabel).
func RegionErrorKind(e *errorpb.Error) string {
	v := reflect.ValueOf(e).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() && t.Field(i).IsExported() {
			return snake(t.Field(i).Name)
		}
	}
	return "unknown"
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
