//go:build !race

package cascade_test

// viewersPerNode for TestCascadeBroadcast300 (see race_on_test.go).
const viewersPerNode = 100
