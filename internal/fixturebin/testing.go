package fixturebin

import (
	"context"
	"testing"
	"time"
)

// buildTimeout bounds building the binaries a test needs (a cold k6 build
// takes minutes on two cores).
const buildTimeout = 15 * time.Minute

// ForTest is Ensure for tests and benchmarks: it returns the bin dir
// holding the named binaries, built once per run, and fails tb when they
// cannot be had.
func ForTest(tb testing.TB, names ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	dir, err := Ensure(ctx, names...)
	if err != nil {
		tb.Fatalf("fixture binaries %v: %v", names, err)
	}
	return dir
}
