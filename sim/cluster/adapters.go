package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvsim/tikvsim/client/pd"
	"github.com/tikvsim/tikvsim/client/tikvrpc"
	"github.com/tikvsim/tikvsim/client/transport"
	"github.com/tikvsim/tikvsim/sim/network"
)

// Transport is the client's transport.Transport over the simulated network:
// a request travels as its typed kvproto message from the client's node to
// the store's node. A lost request or response looks like a timeout, exactly
// as over TCP, and is reported as undetermined; a call to a store that is
// down is reported as not sent.
type Transport struct {
	c      *Cluster
	from   string
	closed bool
}

var _ transport.Transport = (*Transport)(nil)

// NewTransport returns a transport whose requests leave from network node
// from, which is added to the network if missing.
func (c *Cluster) NewTransport(from string) *Transport {
	c.ensureNode(from)
	return &Transport{c: c, from: from}
}

func (c *Cluster) ensureNode(name string) {
	if err := c.net.SetHandler(name, nil); errors.Is(err, network.ErrUnknownNode) {
		c.net.AddNode(name, nil)
	}
}

// SendRequest implements transport.Transport.
func (t *Transport) SendRequest(ctx context.Context, addr string, req *tikvrpc.Request, timeout time.Duration) (*tikvrpc.Response, error) {
	if t.closed {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: transport.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return nil, &transport.SendError{Addr: addr, NotSent: true, Err: err}
	}
	tikvrpc.AttachContext(req, req.Context)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = t.c.w.WithDeadline(ctx, t.c.w.Now().Add(timeout))
		defer cancel()
	}
	resp, err := t.c.net.Call(ctx, t.from, addr, req.Req)
	if err != nil {
		var ne *network.Error
		if errors.As(err, &ne) {
			return nil, &transport.SendError{Addr: addr, NotSent: ne.NotSent, Err: err}
		}
		// The store answered with an error instead of a response.
		return nil, &transport.SendError{Addr: addr, Err: err}
	}
	return &tikvrpc.Response{Resp: resp}, nil
}

// Close implements transport.Transport.
func (t *Transport) Close() error {
	t.closed = true
	return nil
}

// PDClient is the client's pd.Client over the simulated network.
type PDClient struct {
	c       *Cluster
	from    string
	timeout time.Duration
}

var _ pd.Client = (*PDClient)(nil)

// NewPDClient returns a PD client whose calls leave from network node from
// and give up after 3s each (pd client's default per-call timeout).
func (c *Cluster) NewPDClient(from string) *PDClient {
	c.ensureNode(from)
	return &PDClient{c: c, from: from, timeout: 3 * time.Second}
}

// PDError is a PD response header error.
type PDError struct{ Err *pdpb.Error }

func (e *PDError) Error() string {
	return fmt.Sprintf("pd: %s: %s", e.Err.GetType(), e.Err.GetMessage())
}

type headered interface{ GetHeader() *pdpb.ResponseHeader }

func call[Resp headered](p *PDClient, ctx context.Context, req any) (Resp, error) {
	var zero Resp
	ctx, cancel := p.c.w.WithDeadline(ctx, p.c.w.Now().Add(p.timeout))
	defer cancel()
	out, err := p.c.net.Call(ctx, p.from, PDNode, req)
	if err != nil {
		return zero, err
	}
	resp, ok := out.(Resp)
	if !ok {
		return zero, fmt.Errorf("pd: unexpected response %T", out)
	}
	if e := resp.GetHeader().GetError(); e != nil && e.Type != pdpb.ErrorType_OK {
		return zero, &PDError{e}
	}
	return resp, nil
}

func (p *PDClient) header() *pdpb.RequestHeader { return p.c.pdHeader() }

// GetTS implements pd.TSO.
func (p *PDClient) GetTS(ctx context.Context, count uint32) (int64, int64, error) {
	resp, err := call[*pdpb.TsoResponse](p, ctx, &pdpb.TsoRequest{Header: p.header(), Count: count})
	if err != nil {
		return 0, 0, err
	}
	ts := resp.GetTimestamp()
	if ts == nil {
		return 0, 0, errors.New("pd: tso response without timestamp")
	}
	return ts.Physical, ts.Logical, nil
}

func regionOf(resp *pdpb.GetRegionResponse) *pdpb.Region {
	if resp.GetRegion() == nil {
		return nil
	}
	return &pdpb.Region{Region: resp.Region, Leader: resp.Leader, DownPeers: resp.DownPeers, PendingPeers: resp.PendingPeers, Buckets: resp.Buckets}
}

// GetRegion implements pd.Regions.
func (p *PDClient) GetRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	resp, err := call[*pdpb.GetRegionResponse](p, ctx, &pdpb.GetRegionRequest{Header: p.header(), RegionKey: key, NeedBuckets: needBuckets})
	if err != nil {
		return nil, err
	}
	return regionOf(resp), nil
}

// GetPrevRegion implements pd.Regions.
func (p *PDClient) GetPrevRegion(ctx context.Context, key []byte, needBuckets bool) (*pdpb.Region, error) {
	resp, err := call[*pdpb.GetRegionResponse](p, ctx, PrevRegionRequest{&pdpb.GetRegionRequest{Header: p.header(), RegionKey: key, NeedBuckets: needBuckets}})
	if err != nil {
		return nil, err
	}
	return regionOf(resp), nil
}

// GetRegionByID implements pd.Regions.
func (p *PDClient) GetRegionByID(ctx context.Context, id uint64, needBuckets bool) (*pdpb.Region, error) {
	resp, err := call[*pdpb.GetRegionResponse](p, ctx, &pdpb.GetRegionByIDRequest{Header: p.header(), RegionId: id, NeedBuckets: needBuckets})
	if err != nil {
		return nil, err
	}
	return regionOf(resp), nil
}

// BatchScanRegions implements pd.Regions.
func (p *PDClient) BatchScanRegions(ctx context.Context, ranges []*pdpb.KeyRange, limit int, needBuckets bool) ([]*pdpb.Region, error) {
	resp, err := call[*pdpb.BatchScanRegionsResponse](p, ctx, &pdpb.BatchScanRegionsRequest{Header: p.header(), Ranges: ranges,
		Limit: int32(limit), NeedBuckets: needBuckets, ContainAllKeyRange: true})
	if err != nil {
		return nil, err
	}
	return resp.GetRegions(), nil
}

// GetStore implements pd.Stores.
func (p *PDClient) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	resp, err := call[*pdpb.GetStoreResponse](p, ctx, &pdpb.GetStoreRequest{Header: p.header(), StoreId: id})
	if err != nil {
		var pe *PDError
		if errors.As(err, &pe) && pe.Err.GetType() == pdpb.ErrorType_UNKNOWN {
			return nil, fmt.Errorf("%w: %d (%v)", pd.ErrStoreNotFound, id, err)
		}
		return nil, err
	}
	if resp.GetStore() == nil {
		return nil, fmt.Errorf("%w: %d", pd.ErrStoreNotFound, id)
	}
	return resp.GetStore(), nil
}

// GetAllStores implements pd.Stores.
func (p *PDClient) GetAllStores(ctx context.Context) ([]*metapb.Store, error) {
	resp, err := call[*pdpb.GetAllStoresResponse](p, ctx, &pdpb.GetAllStoresRequest{Header: p.header(), ExcludeTombstoneStores: true})
	if err != nil {
		return nil, err
	}
	return resp.GetStores(), nil
}

// LoadKeyspace is PD's Keyspace service LoadKeyspace over the simulated
// network: the meta of the keyspace called name. PD answers ENTRY_NOT_FOUND
// (a *PDError) for an unknown name and, in API V2, until the keyspace's
// region boundaries are split. It is the optional capability rawkv and txnkv
// use to load a keyspace by name (their KeyspaceLoader).
func (p *PDClient) LoadKeyspace(ctx context.Context, name string) (*keyspacepb.KeyspaceMeta, error) {
	resp, err := call[*keyspacepb.LoadKeyspaceResponse](p, ctx, &keyspacepb.LoadKeyspaceRequest{Header: p.header(), Name: name})
	if err != nil {
		return nil, err
	}
	if resp.GetKeyspace() == nil {
		return nil, fmt.Errorf("pd: keyspace %q: response without meta", name)
	}
	return resp.GetKeyspace(), nil
}

// Close implements pd.Client.
func (p *PDClient) Close() {}
