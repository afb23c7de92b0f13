// Package e2e holds the end-to-end tests and benchmarks of the client as
// production runs it: the gRPC transport (client/transport/grpc) and the
// PD adapter over the pd client (client/pd/pdclient), against the
// simulator's fake cluster served over gRPC on loopback (sim/serve). The
// raw KV and transaction suites run there, with splits and leader
// transfers applied while the cluster serves; the examples run there; and
// the benchmarks compare the client with a plain one-request-per-RPC
// unary baseline against the same served cluster.
//
// The package has no code outside its tests.
package e2e
