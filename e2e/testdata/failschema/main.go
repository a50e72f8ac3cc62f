// Command failschema is a Steampipe plugin whose GetSchema always fails and whose
// other calls all succeed. The e2e Steampipe stage installs it to show what Steampipe
// v1.1.3's plugin manager logs when a plugin's GetSchema fails right after its
// connections were set (docs/upstream/steampipe-get-schema-failure-logs-config.md).
package main

import (
	"errors"

	sdkgrpc "github.com/turbot/steampipe-plugin-sdk/v5/grpc"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/row_stream"
)

func main() {
	sdkgrpc.NewPluginServer("failschema",
		func(string, string) error { return nil },
		func([]*proto.ConnectionConfig, int) (map[string]error, error) { return nil, nil },
		func(_, _, _ []*proto.ConnectionConfig) (map[string]error, error) { return nil, nil },
		func(string) (*sdkgrpc.PluginSchema, error) {
			return nil, errors.New("failschema: GetSchema always fails")
		},
		func(*proto.ExecuteRequest, row_stream.Sender) error { return errors.New("failschema: no tables") },
		func(s proto.WrapperPlugin_EstablishMessageStreamServer) error { <-s.Context().Done(); return nil },
		func(*proto.SetCacheOptionsRequest) error { return nil },
		func(*proto.SetRateLimitersRequest) error { return nil },
		func() []*proto.RateLimiterDefinition { return nil },
		func(*proto.SetConnectionCacheOptionsRequest) error { return nil },
		func() string { return "static" },
	).Serve()
}
