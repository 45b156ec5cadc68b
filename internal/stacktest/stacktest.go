// Package stacktest starts a real embedded stack (stack/containers) for a
// test and removes it afterwards, checking through containers.Resources
// that nothing of the run is left. Tests of fault kinds, backups and
// rollouts act on it through the stack capabilities, as drills do.
package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// Start starts an embedded stack with a small generated model and the
// given options, or skips when Docker is unreachable or -short is set. The
// stack is stopped when the test ends, and its run must leave nothing.
func Start(t testing.TB, opts ...containers.Option) *containers.Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no containers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		t.Skipf("docker: %v", err)
	}
	cli.Close()
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := "t" + hex.EncodeToString(b[:])
	opts = append([]containers.Option{containers.WithRunID(id), containers.WithModelSize(1 << 20),
		containers.WithStateDir(t.TempDir())}, opts...)
	st, err := containers.Start(ctx, opts...)
	t.Cleanup(func() {
		if st != nil {
			if err := st.Stop(context.Background()); err != nil {
				t.Errorf("stop stack %s: %v", id, err)
			}
		}
		left, err := containers.Resources(context.Background(), id)
		if err != nil || len(left) > 0 {
			t.Errorf("run %s left %v (%v)", id, left, err)
		}
	})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	return st
}

// OneModel starts an embedded stack of one model server and no Toxiproxy
// in front of it (model-0), as Start does.
func OneModel(t testing.TB) *containers.Stack {
	t.Helper()
	return Start(t, containers.WithReplicas(1), containers.WithProxyMode(containers.ProxyNever))
}

// Health is the status code of GET url/health, or 0 when the server does
// not answer within a second.
func Health(url string) int {
	resp, err := (&http.Client{Timeout: time.Second}).Get(url + "/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// WaitHealth polls url/health until it answers code, failing t when it has
// not within the given time.
func WaitHealth(t testing.TB, url string, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for Health(url) != code {
		if time.Now().After(deadline) {
			t.Fatalf("/health never became %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
