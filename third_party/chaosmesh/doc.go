// Package chaosmesh pins what `make kube-crds` needs to generate the Chaos
// Mesh CRDs for the local test cluster (kube/local.InstallCRDs):
// controller-gen from sigs.k8s.io/controller-tools (a `tool` in go.mod, so
// upstream's own main is built, unchanged) and the API types in
// github.com/chaos-mesh/chaos-mesh/api, which ship no CRD YAML.
//
// This is its own Go module so that the main module never sees a k8s.io
// import. The blank import keeps the API module in go.mod, and `go build
// ./...` here checks that its types compile against the pinned k8s.io
// v0.37.2 modules and controller-runtime v0.25.2 (the API module asks for
// v0.35.3 and v0.21.0; minimal version selection takes ours).
package chaosmesh

import _ "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
