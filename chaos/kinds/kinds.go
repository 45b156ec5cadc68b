// Package kinds links every fault kind into the binary: each kind package
// registers itself with the chaos registry from init, and importing this
// package makes plan validation, `drill list`, the plan schema, doctor and
// journal replay see them all. A new kind is one line here.
package kinds

import (
	_ "github.com/aiuptime/aiuptime/chaos/chaosmesh" // mesh-network-delay, -loss, -partition, mesh-pod-kill, mesh-container-kill, mesh-io-latency, -fault
	_ "github.com/aiuptime/aiuptime/chaos/container" // container-kill, -stop, -pause, -restart, -remove
	_ "github.com/aiuptime/aiuptime/chaos/disk"      // disk-wipe, -corrupt, -readonly, -full
	_ "github.com/aiuptime/aiuptime/chaos/gpu"       // gpu-kill, gpu-hang
	_ "github.com/aiuptime/aiuptime/chaos/kube"      // node-cordon, node-drain, node-loss, scale-to-zero
	_ "github.com/aiuptime/aiuptime/chaos/network"   // network-delay, -loss, -bandwidth, -partition
	_ "github.com/aiuptime/aiuptime/chaos/process"   // process-kill
)
