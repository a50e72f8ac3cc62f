package tokens

import (
	"cmp"
	"fmt"
	"strings"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
)

// The docs' tables of arguments and capabilities are generated from the registry, so
// that a new provider appears in them by being registered.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	updateGenerated(t, "../docs/index.md", []docSection{{"arguments", func() string { return renderArguments(registry) }}})
	updateGenerated(t, "../docs/tables/token_providers.md", []docSection{{"capabilities", func() string { return renderCapabilities(registry) }}})
}

// renderArguments is the connection block's arguments as docs/index.md shows them.
func renderArguments(reg []*providers.Provider) string {
	var b strings.Builder
	b.WriteString("| argument | environment variable | default | meaning |\n|---|---|---|---|\n")
	for _, a := range newConnectionBlock(reg).arguments {
		env := "none"
		if a.Env != "" {
			env = "`" + a.Env + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.Name, env, cmp.Or(a.Default, "none"), a.Meaning)
	}
	return b.String()
}

// renderCapabilities is what each provider records and supports, as
// docs/tables/token_providers.md shows it.
func renderCapabilities(reg []*providers.Provider) string {
	var b strings.Builder
	b.WriteString("| column |")
	for _, p := range reg {
		fmt.Fprintf(&b, " `%s` |", p.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(reg)) + "\n| table_name |")
	for _, p := range reg {
		fmt.Fprintf(&b, " %s |", p.Table)
	}
	b.WriteString("\n")
	for _, c := range capabilities {
		fmt.Fprintf(&b, "| %s |", c.column)
		for _, p := range reg {
			b.WriteString(map[bool]string{true: " yes |", false: " no |"}[c.has(p)])
		}
		b.WriteString("\n")
	}
	return b.String()
}
