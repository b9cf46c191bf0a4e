// Command hsu is the process supervisor and its client CLI.
package main

import (
	"os"

	"github.com/hsu-run/hsu/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
