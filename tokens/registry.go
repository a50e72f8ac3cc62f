package tokens

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/gitlab"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/okta"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/queryserver"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel"
)

// registry is every provider the plugin knows, in the order their rows, arguments and
// docs appear. A new provider is one package under internal/providers and one line here.
var registry = []*providers.Provider{
	vercel.Provider,
	queryserver.Provider,
	gitlab.Provider,
	okta.Provider,
	clerk.Provider,
}
