// Command argo is the upstream Argo Workflows CLI; the tests use
// `argo lint --offline` to validate generated Workflow manifests.
package main

import (
	"os"

	"github.com/argoproj/argo-workflows/v3/cmd/argo/commands"
)

func main() {
	if err := commands.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
