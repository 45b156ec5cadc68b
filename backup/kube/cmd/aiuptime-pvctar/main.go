// Command aiuptime-pvctar is the helper backup/kube runs in a short-lived
// pod that mounts a PersistentVolumeClaim (images here are FROM scratch:
// there is no tar to exec).
//
//	aiuptime-pvctar idle DURATION        wait (the pod's main process), then exit 0
//	aiuptime-pvctar create DIR           write DIR as a tar stream to stdout
//	aiuptime-pvctar extract [-clean] DIR read a tar stream from stdin into DIR
//
// create and extract print one JSON line of pvctar.Stats (the stream's
// sha256 and length, entry counts) on stderr, which the harness compares
// with its own checksum of what it received or sent.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aiuptime/aiuptime/backup/kube/pvctar"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "aiuptime-pvctar:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: aiuptime-pvctar idle DURATION | create DIR | extract [-clean] DIR")
	}
	var st pvctar.Stats
	var err error
	switch args[0] {
	case "idle":
		d, perr := time.ParseDuration(args[1])
		if perr != nil {
			return fmt.Errorf("idle: %w", perr)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-time.After(d):
		case <-sig:
		}
		return nil
	case "create":
		st, err = pvctar.Create(os.Stdout, args[1])
	case "extract":
		clean := args[1] == "-clean"
		dir := args[len(args)-1]
		st, err = pvctar.Extract(os.Stdin, dir, clean)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stderr).Encode(st)
}
