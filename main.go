package main

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/tokens"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

func main() {
	plugin.Serve(&plugin.ServeOpts{PluginFunc: tokens.Plugin})
}
