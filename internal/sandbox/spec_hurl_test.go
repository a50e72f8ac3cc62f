//go:build specs

package sandbox_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// A parser for the subset of the hurl format that the Query Server's own tests use
// (https://hurl.dev/docs/hurl-file.html). Anything else is an error, so that a new
// construct in a vendor file fails loudly instead of being skipped.

// hurlEntry is one request and what its answer must satisfy.
type hurlEntry struct {
	line     int // of the request line, 1-based
	method   string
	url      string
	headers  [][2]string
	body     string // the ```json fenced body, verbatim
	status   int
	expect   string // a JSON body the answer must equal; "" when none
	asserts  []hurlAssert
	captures []hurlCapture
}

// hurlAssert is `jsonpath "<path>" exists`, `... == <value>` or `... != <value>`.
type hurlAssert struct{ path, op, value string }

// hurlCapture is `<name>: jsonpath "<path>"`.
type hurlCapture struct{ name, path string }

var (
	hurlRequestLine = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE) (\S+)$`)
	hurlStatusLine  = regexp.MustCompile(`^HTTP (\d{3})$`)
	hurlHeaderLine  = regexp.MustCompile(`^([A-Za-z0-9-]+): (.*)$`)
	hurlAssertLine  = regexp.MustCompile(`^jsonpath "([^"]*)" (exists|==|!=)(?: (.+))?$`)
	hurlCaptureLine = regexp.MustCompile(`^([A-Za-z_]\w*): jsonpath "([^"]*)"$`)
	hurlVariable    = regexp.MustCompile(`\{\{(\w+)\}\}`)
)

func parseHurl(src string) ([]hurlEntry, error) {
	var entries []hurlEntry
	section, inBody := "", false // section: request, response, asserts or captures
	for i, line := range strings.Split(src, "\n") {
		n, text := i+1, strings.TrimSpace(line)
		if inBody {
			if text == "```" {
				inBody = false
			} else {
				entries[len(entries)-1].body += line + "\n"
			}
			continue
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if m := hurlRequestLine.FindStringSubmatch(text); m != nil {
			entries = append(entries, hurlEntry{line: n, method: m[1], url: m[2]})
			section = "request"
			continue
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("line %d: %q before the first request", n, text)
		}
		e := &entries[len(entries)-1]
		switch m := hurlStatusLine.FindStringSubmatch(text); {
		case section == "request" && m != nil:
			e.status, _ = strconv.Atoi(m[1])
			section = "response"
		case section == "request" && text == "```json":
			inBody = true
		case section == "request" && hurlHeaderLine.MatchString(text):
			h := hurlHeaderLine.FindStringSubmatch(text)
			e.headers = append(e.headers, [2]string{h[1], h[2]})
		case section != "request" && text == "[Asserts]":
			section = "asserts"
		case section != "request" && text == "[Captures]":
			section = "captures"
		case section == "response" && e.expect == "" && (text[0] == '{' || text[0] == '['):
			e.expect = text
		case section == "asserts" && hurlAssertLine.MatchString(text):
			a := hurlAssertLine.FindStringSubmatch(text)
			if (a[2] == "exists") != (a[3] == "") {
				return nil, fmt.Errorf("line %d: unsupported assert %q", n, text)
			}
			e.asserts = append(e.asserts, hurlAssert{path: a[1], op: a[2], value: a[3]})
		case section == "captures" && hurlCaptureLine.MatchString(text):
			c := hurlCaptureLine.FindStringSubmatch(text)
			e.captures = append(e.captures, hurlCapture{name: c[1], path: c[2]})
		default:
			return nil, fmt.Errorf("line %d: %q is outside the hurl subset this parser knows", n, text)
		}
	}
	if inBody {
		return nil, fmt.Errorf("unterminated ```json body")
	}
	for i, e := range entries {
		if e.status == 0 {
			return nil, fmt.Errorf("entry %d (line %d): no HTTP status line", i+1, e.line)
		}
	}
	return entries, nil
}

// expand replaces each {{name}}; an unknown name is an error.
func expand(s string, vars map[string]string) (string, error) {
	var missing []string
	out := hurlVariable.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if missing != nil {
		return "", fmt.Errorf("undefined hurl variable(s) %v", missing)
	}
	return out, nil
}

// jsonQuery returns the nodes path selects in doc (decoded by encoding/json).
func jsonQuery(doc any, path string) ([]any, error) {
	x, err := jp.ParseString(path)
	if err != nil {
		return nil, fmt.Errorf("jsonpath %q: %v", path, err)
	}
	return x.Get(doc), nil
}

// check applies one assert, its value already expanded, to doc.
func (a hurlAssert) check(doc any) error {
	nodes, err := jsonQuery(doc, a.path)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return fmt.Errorf("jsonpath %q %s %s: nothing at that path", a.path, a.op, a.value)
	}
	if a.op == "exists" {
		return nil
	}
	var want any
	if err := json.Unmarshal([]byte(a.value), &want); err != nil {
		return fmt.Errorf("jsonpath %q: value %s is not a JSON literal: %v", a.path, a.value, err)
	}
	got := nodes[0]
	if equal := reflect.DeepEqual(got, want); equal != (a.op == "==") {
		return fmt.Errorf("jsonpath %q %s %s: got %s", a.path, a.op, a.value, jsonText(got))
	}
	return nil
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
