// Command hsu-sim replays hsu configs on a simulated OS under faults:
// same scenario and seed, same trace, byte for byte.
package main

import (
	"os"

	"github.com/hsu-run/hsu/internal/simcli"
)

func main() {
	os.Exit(simcli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
