// Command k6 is k6 built with the xk6-aiuptime extension, the equivalent of
// what `xk6 build --with github.com/aiuptime/aiuptime/xk6-aiuptime` generates.
package main

import (
	k6cmd "go.k6.io/k6/cmd"

	_ "github.com/aiuptime/aiuptime/xk6-aiuptime"
)

func main() {
	k6cmd.Execute()
}
