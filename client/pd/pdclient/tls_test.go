package pdclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/meta_storagepb"
	"github.com/pingcap/kvproto/pkg/pdpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tikvsim/tikvsim/client/pd/pdclient"
	tgrpc "github.com/tikvsim/tikvsim/client/transport/grpc"
)

// tlsPD is the least of a PD the pd client needs to start and hand out
// timestamps: members (itself the leader, at an https URL), cluster info
// and the TSO stream (and tlsMetaStorage beside it).
type tlsPD struct {
	pdpb.UnimplementedPDServer
	url string
	mu  sync.Mutex
	lo  int64
}

func (p *tlsPD) header() *pdpb.ResponseHeader { return &pdpb.ResponseHeader{ClusterId: 42} }

func (p *tlsPD) GetMembers(context.Context, *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	m := &pdpb.Member{Name: "pd", MemberId: 1, ClientUrls: []string{p.url}}
	return &pdpb.GetMembersResponse{Header: p.header(), Members: []*pdpb.Member{m}, Leader: m, EtcdLeader: m}, nil
}

func (p *tlsPD) GetClusterInfo(context.Context, *pdpb.GetClusterInfoRequest) (*pdpb.GetClusterInfoResponse, error) {
	return &pdpb.GetClusterInfoResponse{Header: p.header(), ServiceModes: []pdpb.ServiceMode{pdpb.ServiceMode_PD_SVC_MODE}}, nil
}

func (p *tlsPD) Tso(s pdpb.PD_TsoServer) error {
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.lo += int64(req.GetCount())
		ts := &pdpb.Timestamp{Physical: 1_700_000_000_000, Logical: p.lo}
		p.mu.Unlock()
		if err := s.Send(&pdpb.TsoResponse{Header: p.header(), Count: req.GetCount(), Timestamp: ts}); err != nil {
			return err
		}
	}
}

// tlsMetaStorage answers the pd client's router discovery: no router
// service registered.
type tlsMetaStorage struct {
	meta_storagepb.UnimplementedMetaStorageServer
}

func (*tlsMetaStorage) Get(context.Context, *meta_storagepb.GetRequest) (*meta_storagepb.GetResponse, error) {
	return &meta_storagepb.GetResponse{Header: &meta_storagepb.ResponseHeader{ClusterId: 42}}, nil
}

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	out := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	out.serverCert, out.serverKey = leaf(2, x509.ExtKeyUsageServerAuth, "server")
	out.clientCert, out.clientKey = leaf(3, x509.ExtKeyUsageClientAuth, "client")
	return out
}

// startTLSPD serves tlsPD over mutual TLS on loopback.
func startTLSPD(t *testing.T, p pki) string {
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(p.ca)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})))
	pdpb.RegisterPDServer(srv, &tlsPD{url: "https://" + lis.Addr().String()})
	meta_storagepb.RegisterMetaStorageServer(srv, &tlsMetaStorage{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// WithSecurity reaches the pd client: with the CA and a client
// certificate it connects to a PD that requires mutual TLS and gets
// timestamps (single and batched, the latter on the adapter's own stream
// over the pd client's TLS connection); without TLS, or without the client
// certificate, it cannot connect.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	addr := startTLSPD(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pdclient.New(ctx, []string{"https://" + addr},
		pdclient.WithSecurity(tgrpc.Security{CAPath: p.ca, CertPath: p.clientCert, KeyPath: p.clientKey}))
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, uint64(42), c.ClusterID())
	_, lo1, err := c.GetTS(ctx, 1)
	require.NoError(t, err)
	_, lo2, err := c.GetTS(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, lo1+5, lo2, "the batch of 5 came right after")

	for name, sec := range map[string]tgrpc.Security{
		"no TLS":                {},
		"no client certificate": {CAPath: p.ca},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			c, err := pdclient.New(ctx, []string{"https://" + addr}, pdclient.WithSecurity(sec), pdclient.WithTimeout(200*time.Millisecond))
			require.Error(t, err)
			require.Nil(t, c)
		})
	}
}
