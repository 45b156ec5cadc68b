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
	"strings"
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
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.Flags().Bool("version", false, "print the version and the VCS revision it was built from (as drill version)")
	var verbose bool
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		maskOutputs(cmd)
		if verbose {
			logger = newLogger(os.Stderr, slog.LevelDebug)
		}
		return checkFlags(cmd)
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return asUsage(cmd, err) })
	for _, f := range commands {
		root.AddCommand(f())
	}
	root.SetHelpCommand(newHelpCmd())
	markUsageErrors(root)
	addCompletions(root)
	return root
}

// newHelpCmd is `drill help [command]`: cobra's own prints the root's
// usage and exits 0 for a topic it does not know; this one refuses it as a
// usage error, as an unknown command is.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of a command: drill help run.",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return asUsage(c.Root(), fmt.Errorf("unknown help topic %q", strings.Join(args, " ")))
			}
			if len(rest) > 0 && target.HasSubCommands() {
				return asUsage(target, fmt.Errorf("unknown help topic %q for %q", strings.Join(rest, " "), target.CommandPath()))
			}
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			return target.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// execute runs root with ctx and marks the usage errors cobra and the
// commands return unmarked (see namesOwnFlag). The root command runs
// nothing but its help, so an error it returns unmarked comes from
// cobra's own command lookup: a usage error.
func execute(ctx context.Context, root *cobra.Command) error {
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && (cmd == root || namesOwnFlag(cmd, err)) {
		err = asUsage(cmd, err)
	}
	return err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := execute(ctx, newRoot())
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

// reportTo prints err masked on w (see formatError) and returns the exit
// code it carries.
func reportTo(w io.Writer, err error) int {
	if err == nil {
		return exitcode.Pass
	}
	redactor.AddEnv(os.Environ()) // also when no command ran (a flag error)
	fmt.Fprintln(redactor.Writer(w), formatError(err))
	return exitcode.Of(err, exitcode.Usage)
}
