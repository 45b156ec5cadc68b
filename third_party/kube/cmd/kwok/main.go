// Command kwok is the upstream kwok controller (simulated nodes and pods),
// built from the pinned sigs.k8s.io/kwok module. Like upstream's main it
// reads the global flags (--config for the Stage files, logging) before
// handing over to cmd.NewCommand.
//
// kwok itself has no built-in stages: `make kube` writes the default ones
// (the YAML that ships in the module's kustomize/stage/) next to the binary
// as kwok-stages.yaml, and kube/local passes it with --config.
package main

import (
	"os"

	"github.com/spf13/pflag"

	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

func main() {
	global := pflag.NewFlagSet("global", pflag.ContinueOnError)
	global.ParseErrorsAllowlist.UnknownFlags = true
	global.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, global)
	ctx, err := config.InitFlags(ctx, global)
	if err != nil {
		logger.Error("init config flags", "err", err)
		os.Exit(1)
	}
	command := cmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(global)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok", "err", err)
		os.Exit(1)
	}
}
