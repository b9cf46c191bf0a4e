// Command hsu is the process supervisor and its client CLI.
package main

import (
	"os"

	"github.com/hsu-run/hsu/internal/cli"
	"github.com/hsu-run/hsu/osadapters"
)

func main() {
	osadapters.RunExecHelper() // first: a worker started through the exec helper becomes its program here
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
