// Command drill runs disaster-recovery and update drills against an on-prem
// AI inference stack and writes the evidence (JUnit, JSON, Markdown, HTML,
// Prometheus textfile).
//
// Each subcommand lives in its own file and registers itself with
// addCommand from an init function.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
)

var commands []func() *cobra.Command

// addCommand registers a subcommand constructor; call it from init.
func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

// logger is the CLI's structured logger (stderr, masked by redactor).
var logger = newLogger(os.Stderr, slog.LevelInfo)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "drill",
		Short:         "Disaster-recovery and update drills for on-prem AI inference stacks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var verbose bool
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		maskOutputs(cmd)
		if verbose {
			logger = newLogger(os.Stderr, slog.LevelDebug)
		}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.Wrap(exitcode.Usage, err) })
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	os.Exit(report(err))
}

// printJSON writes v to the command's output as indented JSON.
func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints err (masked) on stderr and returns the exit code it carries.
func report(err error) int { return reportTo(os.Stderr, err) }

// reportTo prints err masked on w and returns the exit code it carries.
func reportTo(w io.Writer, err error) int {
	if err == nil {
		return exitcode.Pass
	}
	redactor.AddEnv(os.Environ()) // also when no command ran (a flag error)
	fmt.Fprintln(redactor.Writer(w), "drill:", err)
	return exitcode.Of(err, exitcode.Usage)
}
