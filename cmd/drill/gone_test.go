package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	kubebackup "github.com/aiuptime/aiuptime/backup/kube"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaosmesh"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// TestEveryReverterTakesGoneAsReverted plants, for every registered
// reverter, the record of a crashed drill whose target is gone (the
// container, its namespace, its volume, its file, its proxy) and replays
// them as `drill cleanup` does: each counts as reverted, none fails or is
// quarantined (the reverter contract: already gone is success).
func TestEveryReverterTakesGoneAsReverted(t *testing.T) {
	dead := chaostest.DeadOwner(t) // its namespaces went with it
	target := map[string]any{"service": "model-0", "pid": dead.PID, "pid_start": dead.Start, "netns": procfs.NSPath(dead.PID, "net")}
	links := []map[string]any{{"index": 2, "name": "eth0"}}
	gone := filepath.Join(t.TempDir(), "removed-volume")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // the proxy's API: nothing listens any more
	states := map[string]func(id, stateDir string) any{
		"network/qdisc": func(id, _ string) any {
			return map[string]any{"target": target, "links": links, "handle": network.QdiscHandleFor(id), "kind": "netem"}
		},
		"network/nft":      func(id, _ string) any { return map[string]any{"target": target, "table": network.TableFor(id)} },
		"network/linkdown": func(string, string) any { return map[string]any{"target": target, "links": links} },
		"network/toxic": func(id, _ string) any {
			return map[string]any{"api_url": closed, "proxy": "model-0", "toxic": network.ToxicFor(id)}
		},
		"disk/wipe": func(id, stateDir string) any {
			return map[string]any{"root": gone, "volume": gone, "snapshot": filepath.Join(stateDir, "snapshots", id)}
		},
		"disk/corrupt": func(string, string) any {
			return map[string]any{"file": filepath.Join(gone, "w.bin"), "volume": gone, "original": []byte("ab")}
		},
		"disk/readonly": func(string, string) any {
			return map[string]any{"pid": dead.PID, "pid_start": dead.Start, "mount_path": "/data"}
		},
		"disk/full": func(id, _ string) any {
			return map[string]any{"file": filepath.Join(gone, disk.FillerPrefix+id), "volume": gone}
		},
		dockerhost.UndoSignal: func(string, string) any {
			return map[string]any{"procs": []map[string]any{{"host_pid": dead.PID, "pid": 7, "start": dead.Start}}, "namespace": map[string]any{"dev": 4, "ino": 1}, "signal": 18}
		},
		dockerhost.UndoEnsure: func(string, string) any {
			return map[string]any{"container_id": "", "name": "aiuptime-crash-removed-long-ago"}
		},
		// A local cluster's kubeconfig goes with `drill kube down`.
		kubernetes.UndoReplicas: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "pod": "model-0-abc", "deployment": "model", "replicas": 2, "scale": true}
		},
		// Likewise a Chaos Mesh object's cluster.
		chaosmesh.Undo: func(id, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "kind": chaosmesh.NetworkChaos, "name": chaosmesh.ObjectName("delay", id),
				"labels": map[string]string{chaosmesh.LabelManagedBy: chaosmesh.ManagedBy, chaosmesh.LabelRun: chaostest.CrashRun, chaosmesh.LabelRecord: id}}
		},
		kubernetes.UndoNode: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "node": "aiuptime-node", "node_uid": "u-1", "op": "cordon"}
		},
		kubernetes.UndoRolloutFunc: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "deployment": "aiuptime-model-0", "uid": "u-2", "role": "model",
				"select": map[string]any{"selector": "app=model"}, "revision": 1, "replica_set": "aiuptime-model-0-abc", "replica_set_uid": "u-3"}
		},
		kubernetes.UndoSignal: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "pod": "model-0-abc", "pod_uid": "u-4", "role": "model", "select": map[string]any{"selector": "app=model"},
				"procs": []map[string]any{{"host_pid": dead.PID, "pid": 7, "start": dead.Start}}, "pid_ns": map[string]any{"dev": 4, "ino": 1}, "signal": 18}
		},
		kubernetes.UndoAddedFunc: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "deployment": "aiuptime-model-0-canary", "service": "canary", "select": map[string]any{"selector": "app=model"}}
		},
		kubernetes.UndoSwitchFunc: func(_, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "service": "aiuptime-model-0", "uid": "u-5", "selector": map[string]any{"app": "model-0"}}
		},
		kubebackup.UndoHelperPod: func(id, stateDir string) any {
			return map[string]any{"conn": map[string]any{"kubeconfig": filepath.Join(stateDir, "kube", "gone", "kubeconfig")},
				"namespace": "aiuptime", "pod": "aiuptime-backup-helper", "record": id}
		},
		"gpu/none":          func(string, string) any { return map[string]any{} },
		chaos.RevertNothing: func(string, string) any { return map[string]any{} },
	}
	for _, name := range chaos.ReverterNames() {
		if _, ok := states[name]; !ok && filepath.Dir(name) != "test" {
			t.Errorf("reverter %s has no gone case here: add one", name)
		}
	}
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			if name == dockerhost.UndoEnsure {
				needDocker(t)
			}
			res, err := chaostest.PlantAndReplay(t, chaostest.Owns{}, chaos.Record{Reverter: name, Target: "model-0"}, state)
			if err != nil || len(res.Reverted) != 1 {
				t.Fatalf("replay of a gone target: reverted %d, failed %d, quarantined %+v: %v", len(res.Reverted), len(res.Failed), res.Quarantined, err)
			}
		})
	}
}

// needDocker skips t unless a Docker Engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	cli, err := dockerhost.Connect(context.Background())
	if err != nil {
		t.Skipf("docker: %v", err)
	}
	cli.Close()
}
