// Package kube pins the Kubernetes control-plane binaries that `make kube`
// builds for the local test cluster (kube/local): kube-apiserver,
// kube-controller-manager and kube-scheduler from k8s.io/kubernetes, and
// kwok (simulated nodes and pods) from sigs.k8s.io/kwok. etcd has a module
// of its own under cmd/etcd (see there why).
//
// This is its own Go module so that the main module (and `go build ./...`
// at the repository root) never sees a k8s.io import. Each binary is a tiny
// main under cmd/ that calls the upstream command constructor.
package kube
