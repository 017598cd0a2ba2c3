// Command likewise runs likewise's roles other than the scheduler, and its one-shot tools, as
// subcommands: see `likewise --help`.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"

	"github.com/likewise-dev/likewise/cmd/likewise/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
