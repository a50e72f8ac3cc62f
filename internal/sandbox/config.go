package sandbox

import (
	"slices"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConnectionConfig is the body of a tokens connection block (HCL) that points every
// upstream at this sandbox served at baseURL, plus any extra arguments given.
func (s *Sandbox) ConnectionConfig(baseURL string, extra map[string]string) []byte {
	return s.ConnectionConfigOf(baseURL, nil, extra)
}

// ConnectionConfigOf is ConnectionConfig naming only the given upstreams (every one
// when nil): a benchmark whose workload is some providers' tokens leaves the rest out.
func (s *Sandbox) ConnectionConfigOf(baseURL string, upstreams []string, extra map[string]string) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	s.mu.Lock()
	for _, k := range kinds {
		if upstreams != nil && !slices.Contains(upstreams, k.name) {
			continue
		}
		for _, kv := range s.ups[k.name].connection(baseURL + k.prefix) {
			b.SetAttributeValue(kv[0], cty.StringVal(kv[1]))
		}
	}
	s.mu.Unlock()
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
