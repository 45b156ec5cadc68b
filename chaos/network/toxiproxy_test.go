package network

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/stack"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startToxiproxy runs the real Toxiproxy server (built from the pinned module).
func startToxiproxy(t *testing.T) string {
	bin := filepath.Join(os.Getenv("AIUPTIME_BIN"), "toxiproxy-server")
	if _, err := os.Stat(bin); os.Getenv("AIUPTIME_BIN") == "" || err != nil {
		bin = filepath.Join(t.TempDir(), "toxiproxy-server")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/Shopify/toxiproxy/v2/cmd/server")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("toxiproxy server does not build: %v %s", err, out)
		}
	}
	port := freePort(t)
	srv := exec.Command(bin, "-host", "127.0.0.1", "-port", fmt.Sprint(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	api := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := toxiproxy.NewClient(api).Proxies(); err == nil {
			return "http://" + api
		}
		if time.Now().After(deadline) {
			t.Fatal("toxiproxy never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// minRTT is the fastest of n round trips: a toxic adds a fixed latency,
// while a busy machine only ever adds more on top, so the minimum is the
// estimate least disturbed by load (the median moved by 8 ms under CI load).
func minRTT(t *testing.T, url string, n int) time.Duration {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: false}}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ds = append(ds, time.Since(start))
	}
	return slices.Min(ds)
}

// TestDelayToxiproxy: without netem the delay goes through the Toxiproxy in
// front of the service; the added latency must be within ±10 % of the request.
func TestDelayToxiproxy(t *testing.T) {
	api := startToxiproxy(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer up.Close()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if _, err := toxiproxy.NewClient(api).CreateProxy("model-0", listen, up.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	url := "http://" + listen + "/"
	base := minRTT(t, url, 20)
	for _, want := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond} {
		d := chaostest.Deps(t)
		f := &Delay{Spec: DelaySpec{Delay: want}, Target: Target{Service: "model-0", Proxy: &stack.Proxy{APIURL: api, Name: "model-0"}}, Deps: d, Kernel: hostcaps.Kernel{Netem: false}}
		if f.Mechanism() != MechToxiproxy {
			t.Fatalf("mechanism %q", f.Mechanism())
		}
		start := time.Now()
		rev, err := f.Inject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		injectTook := time.Since(start)
		got := minRTT(t, url, 20) - base
		start = time.Now()
		if err := rev(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("toxiproxy delay: requested %v observed %v (inject %v, revert %v)", want, got, injectTook, time.Since(start))
		if got < want*9/10 || got > want*11/10 {
			t.Fatalf("observed added latency %v not within ±10%% of %v", got, want)
		}
		chaostest.JournalEmpty(t, d.Journal)
		if ts, _ := Toxics(api, "model-0"); len(ts) != 0 {
			t.Fatalf("toxics left: %v", ts)
		}
		if after := minRTT(t, url, 10); after > base+want/2 {
			t.Fatalf("latency after revert %v", after)
		}
	}
	// Replay of an already-removed toxic is success (idempotent).
	var _ = chaos.NoRevert
}
