package pgcluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ServerStatements create a foreign server called name with the plugin config
// config, and import the plugin's tables into a schema of the same name.
func ServerStatements(name, config string) []string {
	return []string{
		"create server " + name + " foreign data wrapper " + Extension + " options (config " + Quote(config) + ")",
		"create schema " + name,
		"import foreign schema tokens from server " + name + " into " + name,
	}
}

// Quote makes s a SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Exec runs the statements in order on conn. An error quotes the statement only up
// to its options, which hold a server's config and so its credentials.
func Exec(ctx context.Context, conn *pgx.Conn, stmts ...string) error {
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(s, " options", 2)[0], err)
		}
	}
	return nil
}
