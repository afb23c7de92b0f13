package sender

import (
	"context"
	"errors"
	"time"

	"github.com/tikvsim/tikvsim/client/config/retry"
	"github.com/tikvsim/tikvsim/client/internal/locate"
	"github.com/tikvsim/tikvsim/client/tikverr"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// Locator finds the region a request must go to.
type Locator func(ctx context.Context, bo *retry.Backoffer) (*locate.KeyLocation, error)

// KeyLocator locates the region holding key or, with byEnd, the region
// holding the keys just below key (a reverse scan's exclusive upper bound).
func (s *Sender) KeyLocator(key []byte, byEnd bool) Locator {
	return func(ctx context.Context, bo *retry.Backoffer) (*locate.KeyLocation, error) {
		if byEnd {
			return s.cache.LocateEndKey(ctx, PDBackoffer{bo}, key)
		}
		return s.cache.LocateKey(ctx, PDBackoffer{bo}, key)
	}
}

// SendLocated sends the request mk builds for the region where finds, and
// while the answer is a region error that hands the request back (the
// region changed), backs off RegionMiss and locates again: the loop every
// caller of client-go's SendReq writes. The response has a body and no region
// error. loc is the last region located (nil when locating failed).
func (s *Sender) SendLocated(ctx context.Context, bo *retry.Backoffer, where Locator, timeout time.Duration,
	mk func(loc *locate.KeyLocation) *tikvrpc.Request, opts ...ReadOption) (resp *tikvrpc.Response, loc *locate.KeyLocation, err error) {
	for {
		if loc, err = where(ctx, bo); err != nil {
			return nil, nil, err
		}
		if resp, _, err = s.Send(ctx, bo, mk(loc), loc.Region, timeout, opts...); err != nil {
			return nil, loc, err
		}
		if re, _ := resp.GetRegionError(); re != nil {
			if err := bo.Backoff(retry.BoRegionMiss, errors.New(re.String())); err != nil {
				return nil, loc, err
			}
			continue
		}
		if resp.Resp == nil {
			return nil, loc, tikverr.ErrBodyMissing
		}
		return resp, loc, nil
	}
}
