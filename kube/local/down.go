package local

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Load reads the cluster.json of the state dir dir. A dir without one
// gives an error wrapping fs.ErrNotExist.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("cluster state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// Down stops every process recorded in the state dir's cluster.json that
// is still ours (same pid, start time and command line) and any stray
// process of ours that names the dir, then removes the dir. It is
// idempotent: a dir that does not exist is success. It refuses a dir that
// exists without a cluster.json (ErrNotOurs) and keeps the dir when a
// process would not stop, so that it can be tried again.
func Down(ctx context.Context, stateDir string, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return fmt.Errorf("state dir %q: %w", stateDir, err)
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		// Nothing to stop; but a real node of this dir may have left
		// host resources behind (the state dir removed by hand).
		if id := idOf(dir); len(nodeLeftovers(id, false)) > 0 {
			return cleanNode(context.WithoutCancel(ctx), o.log, id, nil)
		}
		return nil
	}
	st, err := Load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, ErrNotOurs)
	}
	var procs []Process
	if err == nil {
		for _, p := range st.Processes {
			procs = append(procs, *p)
		}
	} else {
		o.log.Warn("unreadable cluster state; stopping the processes found by their command lines", "err", err)
	}
	strays, err := Strays(dir)
	if err != nil {
		return err
	}
	for _, s := range strays {
		if !slices.ContainsFunc(procs, func(p Process) bool { return p.PID == s.PID && p.Start == s.Start }) {
			procs = append(procs, s)
		}
	}
	ctx = context.WithoutCancel(ctx) // a stop that was begun is finished
	for _, p := range procs {
		if p.Ours() {
			o.log.Info("stopping", "component", p.Name, "pid", p.PID)
		}
	}
	if err := stopAll(ctx, o.log, procs, o.stopGrace); err != nil {
		return fmt.Errorf("stop local cluster in %s: %w", dir, err)
	}
	var node *NodeState
	if st != nil {
		node = st.Node
	}
	if id := idOf(dir); node != nil || len(nodeLeftovers(id, false)) > 0 {
		t := time.Now()
		if err := cleanNode(ctx, o.log, id, node); err != nil {
			return fmt.Errorf("remove the real node of %s: %w", dir, err)
		}
		o.log.Info("real node removed from the host", "took", time.Since(t).Round(time.Millisecond))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	o.log.Info("local cluster down", "dir", dir)
	return nil
}

// ComponentStatus is one process's state as Status sees it.
type ComponentStatus struct {
	Name    string         `json:"name"`
	PID     int            `json:"pid"`
	Running bool           `json:"running"`
	Healthy bool           `json:"healthy"`
	Ports   map[string]int `json:"ports,omitempty"`
	RSS     int64          `json:"rss_bytes,omitempty"`
	Log     string         `json:"log"`
}

// Status is the state of a cluster.
type Status struct {
	Name       string            `json:"name"`
	Dir        string            `json:"dir"`
	Server     string            `json:"server"`
	Kubeconfig string            `json:"kubeconfig"`
	StartedAt  time.Time         `json:"started_at"`
	Ready      bool              `json:"ready"`
	Components []ComponentStatus `json:"components"`
	// Node is the real node and its start timings, nil without one.
	Node *NodeState `json:"node,omitempty"`
}

// GetStatus reports which of the state dir's processes still run, their
// memory, and whether each answers its health endpoint.
func GetStatus(ctx context.Context, stateDir string) (*Status, error) {
	st, err := Load(stateDir)
	if err != nil {
		return nil, err
	}
	s := &Status{Name: st.Name, Dir: st.Dir, Server: st.Server, Kubeconfig: st.Kubeconfig, StartedAt: st.StartedAt, Ready: true}
	client, cerr := AdminClient(st.Kubeconfig)
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe only
	}}
	defer insecure.CloseIdleConnections()
	for _, p := range st.Processes {
		cs := ComponentStatus{Name: p.Name, PID: p.PID, Ports: p.Ports, Log: p.Log, Running: p.Ours()}
		if cs.Running {
			cs.RSS, _ = RSS(p.PID)
			hc := insecure
			if p.Name == APIServer && cerr == nil {
				hc = client
			}
			cs.Healthy = p.Health == "" || healthy(ctx, hc, p.Health) // containerd: running is healthy
		}
		s.Ready = s.Ready && cs.Healthy
		s.Components = append(s.Components, cs)
	}
	s.Ready = s.Ready && len(s.Components) == st.expected()
	s.Node = st.Node
	return s, nil
}

func healthy(ctx context.Context, hc *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return getOK(ctx, hc, url) == nil
}

// getOK GETs url and wants 200: every readiness check of the cluster.
func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago (all held open until all are chosen).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
