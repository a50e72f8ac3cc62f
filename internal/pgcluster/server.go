package pgcluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ServerStatements create a foreign server called name with the plugin config
// serverConfig (the server owner's settings: what the connection may do, retries;
// readable by every role), a user mapping for the current user with mappingConfig
// (the credentials: readable only by that role, the server's owner and superusers;
// none when empty), and import the plugin's tables into a schema of the same name.
func ServerStatements(name, serverConfig, mappingConfig string) []string {
	server := "create server " + name + " foreign data wrapper " + Extension
	if serverConfig != "" {
		server += " options (config " + Quote(serverConfig) + ")"
	}
	stmts := []string{server}
	if mappingConfig != "" {
		stmts = append(stmts, "create user mapping for current_user server "+name+" options (config "+Quote(mappingConfig)+")")
	}
	return append(stmts,
		"create schema "+name,
		"import foreign schema tokens from server "+name+" into "+name,
	)
}

// Quote makes s a SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Exec runs the statements in order on conn. An error quotes the statement only up
// to its options, which hold a server's or a mapping's config and so its credentials.
func Exec(ctx context.Context, conn *pgx.Conn, stmts ...string) error {
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(s, " options", 2)[0], err)
		}
	}
	return nil
}
