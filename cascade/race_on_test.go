//go:build race

package cascade_test

// Under the race detector (the CI suite) a few hundred DTLS handshakes in
// one process on the shared 2-core machine starve ICE; the broadcast test
// then runs 20 viewers per node. Without -race it runs the full 100.
const viewersPerNode = 20
