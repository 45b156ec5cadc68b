// Command caddy is Caddy v2 with its standard modules, as `xcaddy build`
// generates it with no plugins: `make caddy` builds it from the version
// pinned in this module's go.mod, for the L7 failover gateway of
// stacks/ollama-caddy.
//
// This is its own Go module so that the main module (and `go build ./...`
// at the repository root) never sees Caddy's dependency tree.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// The standard modules: http, reverse_proxy, the Caddyfile adapter,
	// metrics, and the rest of what the official binary ships.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
