package pdclient

// This file is the adapter's shell around the pd client: construction
// (the pd client starts goroutines and lives in a context the adapter
// owns), Close, and the multi-timestamp TSO request with its per-attempt
// timeout. It is on internal/guard's allow-list.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/pingcap/kvproto/pkg/tsopb"
	pdc "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/pkg/caller"
	sd "github.com/tikv/pd/client/servicediscovery"
	"google.golang.org/grpc"

	"github.com/tikvsim/tikvsim/client/tikverr"
)

// New connects to the PD cluster at endpoints ("host:port" or URLs, any
// member will do) and returns the PD edge. It blocks until the pd client
// has found the cluster and its leader, or fails; ctx bounds only that: a
// cancellation after New returns does not affect the client. With
// WithKeyspace it also loads the keyspace (see there). Close the client to
// release its connections and goroutines.
func New(ctx context.Context, endpoints []string, opts ...Option) (*Client, error) {
	const op = "pdclient.New"
	if len(endpoints) == 0 {
		return nil, tikverr.InvalidArgument(op, "endpoints", "empty")
	}
	for i, e := range endpoints {
		if strings.TrimSpace(e) == "" {
			return nil, tikverr.InvalidArgument(op, "endpoints", fmt.Sprintf("endpoint %d is empty", i))
		}
	}
	o := defaultOptions()
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, tikverr.InvalidArgument(op, "options", err.Error())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	// The pd client lives in the context it is built with; it must outlive
	// ctx, so it gets one of its own, cancelled by ctx only until New
	// returns.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	failed := func(err error) (*Client, error) {
		stop()
		cancel()
		return nil, &Error{Op: fmt.Sprintf("New(%s)", strings.Join(endpoints, ",")), Err: err, Ctx: ctx.Err()}
	}
	sec := pdc.SecurityOption{CAPath: o.security.CAPath, CertPath: o.security.CertPath, KeyPath: o.security.KeyPath}
	cli, err := pdc.NewClientWithContext(life, caller.Component(o.component), endpoints, sec, o.clientOptions()...)
	if err != nil {
		return failed(err)
	}
	var meta *keyspacepb.KeyspaceMeta
	if o.keyspaceSet {
		// The pd client built for a keyspace name retries a keyspace PD
		// does not know until its context ends; load it first with a
		// cluster-wide client, so that an unknown keyspace fails at once.
		meta, err = (&Client{pd: cli}).LoadKeyspace(ctx, keyspaceName(o.keyspace))
		cli.Close()
		if err != nil {
			return failed(err)
		}
		cli, err = pdc.NewClientWithAPIContext(life, pdc.NewAPIContextV2(o.keyspace), caller.Component(o.component), endpoints, sec, o.clientOptions()...)
		if err != nil {
			return failed(err)
		}
	}
	c := &Client{pd: cli, opts: o, cancel: cancel, keyspace: meta}
	if !stop() {
		// ctx ended while the client was being built: the client's
		// context may be cancelled already.
		err := ctx.Err()
		c.Close()
		return nil, &Error{Op: "New", Err: err, Ctx: err}
	}
	return c, nil
}

// keyspaceName is PD's name for a keyspace option ("" is DEFAULT, pd
// client NewAPIContextV2).
func keyspaceName(name string) string {
	if name == "" {
		return "DEFAULT"
	}
	return name
}

// Close implements pd.Client: it closes the pd client and its connections.
// Later calls fail with ErrClosed. It may be called more than once.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.pd.Close()
		c.cancel()
	})
}

// tsoAttempts is how many PD requests one multi-timestamp GetTS may make:
// after a failure the pd client re-reads the PD membership, so a leader
// change costs one attempt.
const tsoAttempts = 3

// getTSBatch allocates count > 1 consecutive timestamps with one TsoRequest
// and returns the last.
func (c *Client) getTSBatch(ctx context.Context, count uint32) (int64, int64, error) {
	op := fmt.Sprintf("GetTS(%d)", count)
	var err error
	for attempt := range tsoAttempts {
		if attempt > 0 {
			if ctx.Err() != nil {
				break
			}
			// Best effort: a failure here shows again in the next attempt.
			_ = c.pd.GetServiceDiscovery().CheckMemberChanged()
		}
		var physical, logical int64
		physical, logical, err = c.tsoOnce(ctx, count)
		if err == nil {
			return physical, logical, nil
		}
	}
	return 0, 0, fail(ctx, op, err)
}

// tsoTarget is where a TSO request goes: PD's Tso RPC, or the TSO
// microservice's when the pd client uses one (pd client
// clients/tso/stream.go pdTSOStreamAdapter and tsoTSOStreamAdapter).
type tsoTarget struct {
	conn                *grpc.ClientConn
	clusterID           uint64
	keyspaceID, groupID uint32
	micro               bool
	url                 string
}

// tsoServiceDiscovery is the pd client's accessor of its TSO microservice
// discovery (nil when PD serves TSO itself).
type tsoServiceDiscovery interface {
	GetTSOServiceDiscovery() sd.ServiceDiscovery
}

func (c *Client) tsoTarget() (tsoTarget, error) {
	if t, ok := c.pd.(tsoServiceDiscovery); ok {
		if d := t.GetTSOServiceDiscovery(); d != nil {
			conn := d.GetServingEndpointClientConn()
			if conn == nil {
				return tsoTarget{}, errors.New("no TSO primary known")
			}
			return tsoTarget{conn: conn, clusterID: d.GetClusterID(), keyspaceID: d.GetKeyspaceID(),
				groupID: d.GetKeyspaceGroupID(), micro: true, url: d.GetServingURL()}, nil
		}
	}
	d := c.pd.GetServiceDiscovery()
	conn := d.GetServingEndpointClientConn()
	if conn == nil {
		return tsoTarget{}, errors.New("no PD leader known")
	}
	return tsoTarget{conn: conn, clusterID: d.GetClusterID(), url: d.GetServingURL()}, nil
}

// tsoOnce makes one TSO request for count timestamps on a stream of its
// own, bounded by the request timeout.
func (c *Client) tsoOnce(ctx context.Context, count uint32) (int64, int64, error) {
	t, err := c.tsoTarget()
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.timeout)
	defer cancel() // also ends the stream
	var ts *pdpb.Timestamp
	var got uint32
	if t.micro {
		s, err := tsopb.NewTSOClient(t.conn).Tso(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("open TSO stream to %s: %w", t.url, err)
		}
		if err := s.Send(&tsopb.TsoRequest{Header: &tsopb.RequestHeader{ClusterId: t.clusterID,
			Keyspace: &tsopb.RequestHeader_KeyspaceId{KeyspaceId: t.keyspaceID}, KeyspaceGroupId: t.groupID},
			Count: count}); err != nil {
			return 0, 0, fmt.Errorf("send TSO request to %s: %w", t.url, err)
		}
		resp, err := s.Recv()
		if err != nil {
			return 0, 0, fmt.Errorf("receive TSO response from %s: %w", t.url, err)
		}
		_ = s.CloseSend()
		if e := resp.GetHeader().GetError(); e != nil {
			return 0, 0, fmt.Errorf("TSO service %s: %s: %s", t.url, e.GetType(), e.GetMessage())
		}
		ts, got = resp.GetTimestamp(), resp.GetCount()
	} else {
		s, err := pdpb.NewPDClient(t.conn).Tso(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("open TSO stream to %s: %w", t.url, err)
		}
		if err := s.Send(&pdpb.TsoRequest{Header: &pdpb.RequestHeader{ClusterId: t.clusterID}, Count: count}); err != nil {
			return 0, 0, fmt.Errorf("send TSO request to %s: %w", t.url, err)
		}
		resp, err := s.Recv()
		if err != nil {
			return 0, 0, fmt.Errorf("receive TSO response from %s: %w", t.url, err)
		}
		_ = s.CloseSend()
		if e := resp.GetHeader().GetError(); e != nil {
			return 0, 0, fmt.Errorf("PD %s: %s: %s", t.url, e.GetType(), e.GetMessage())
		}
		ts, got = resp.GetTimestamp(), resp.GetCount()
	}
	return checkTSO(ts, got, count)
}
