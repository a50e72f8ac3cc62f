// Command buildsteampipe builds Steampipe v1.1.3 and the multi-plugin
// steampipe-postgres-fdw v1.13.0 (unpatched) from their module source into
// .cache/steampipe, and does nothing when they are up to date (make steampipe). Run
// it from the repository root. internal/steampipecli says why these versions and
// how the e2e stage installs them.
package main

import (
	"fmt"
	"os"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/steampipecli"
)

func main() {
	repo, err := os.Getwd()
	if err == nil {
		err = steampipecli.Build(repo, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildsteampipe:", err)
		os.Exit(1)
	}
}
