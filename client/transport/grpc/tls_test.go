package grpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
)

type certKey struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// issue makes a certificate for cn signed by parent (self-signed when nil).
func issue(t *testing.T, cn string, serial int64, parent *certKey, ca bool) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	signer, signKey := tmpl, key
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certKey{cert: cert, der: der, key: key}
}

// write stores c as PEM files in dir and returns their paths.
func (c *certKey) write(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestTLS: mutual TLS from CA/cert/key files generated at test time.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "test-ca", 1, nil, true)
	srvCert := issue(t, "tikv", 2, ca, false)
	cliCert := issue(t, "client", 3, ca, false)
	caPath, _ := ca.write(t, dir, "ca")
	certPath, keyPath := cliCert.write(t, dir, "client")

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srvTLS := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.der}, PrivateKey: srvCert.key}},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	addr, _ := serve(t, newFakeTikv(), credentials.NewTLS(srvTLS))
	ctx := context.Background()

	for _, batch := range []bool{true, false} {
		tr := newTransport(t, Options{DisableBatch: !batch, Security: Security{CAPath: caPath, CertPath: certPath, KeyPath: keyPath}})
		if err := put(ctx, tr, addr, "k", "secret"); err != nil {
			t.Fatalf("batch=%v put: %v", batch, err)
		}
		if v, err := get(ctx, tr, addr, "k", time.Second); err != nil || string(v) != "secret" {
			t.Fatalf("batch=%v get: %q %v", batch, v, err)
		}
	}

	plain := newTransport(t, Options{DialTimeout: 300 * time.Millisecond})
	if _, err := get(ctx, plain, addr, "k", time.Second); err == nil {
		t.Fatal("plaintext client reached a TLS server")
	}
	noCert := newTransport(t, Options{DialTimeout: 300 * time.Millisecond, Security: Security{CAPath: caPath}})
	if _, err := get(ctx, noCert, addr, "k", time.Second); err == nil {
		t.Fatal("client without certificate passed mutual TLS")
	}
	if _, err := New(Options{Security: Security{CAPath: caPath, CertPath: certPath}}); err == nil {
		t.Fatal("cert without key accepted")
	}
}
