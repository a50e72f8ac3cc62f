package sandbox

import (
	"slices"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConnectionConfig is the body of a tokens connection block (HCL) that points every
// upstream at this sandbox served at baseURL, plus any extra arguments given.
func (s *Sandbox) ConnectionConfig(baseURL string, extra map[string]string) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	s.mu.Lock()
	for _, k := range kinds {
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
