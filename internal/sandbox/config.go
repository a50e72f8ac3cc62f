package sandbox

import (
	"slices"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConnectionConfig is the body of a tokens connection block (HCL) that points every
// provider at this sandbox served at baseURL, plus any extra arguments given.
func (s *Sandbox) ConnectionConfig(baseURL string, extra map[string]string) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	for _, kv := range [][2]string{
		{"vercel_api_token", s.VercelToken()}, {"vercel_base_url", baseURL + "/vercel"},
		{"query_server_url", baseURL + "/query"}, {"query_server_token", s.QueryServerAdminToken()},
		{"clerk_secret_key", s.ClerkSecretKey()}, {"clerk_base_url", baseURL + "/clerk/v1"},
	} {
		b.SetAttributeValue(kv[0], cty.StringVal(kv[1]))
	}
	for _, k := range sortedKeys(extra) {
		b.SetAttributeValue(k, cty.StringVal(extra[k]))
	}
	return f.Bytes()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
