package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// source remembers where each key of a config file is, so that errors
// found after decoding still name the file and line.
type source struct {
	file  string
	lines map[string]int    // key path ("limits.max_event_bytes", "apps[0].id") → line
	env   map[string]string // key path → the PIXIU_* variable that set it
}

// Load reads the file at path (if not empty) over the defaults, then applies
// the PIXIU_* environment variables from getenv (nil: none) and the
// defaults. Unknown keys and values of the wrong type are errors naming
// the file, line and key (an *Errors). It does not Validate.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Config{src: &source{file: path, lines: map[string]int{}, env: map[string]string{}}}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decode(b, &c); err != nil {
			return c, err
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	c.ApplyDefaults()
	return c, nil
}

// decode reads a YAML document into c. Each app starts from apps.Defaults,
// so a setting the file leaves out takes its default and one it sets (even
// to zero) is kept.
func decode(b []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("config: %s: %w", c.src.file, err)
	}
	if len(root.Content) == 0 {
		return nil // an empty file
	}
	doc := root.Content[0]
	var errs Errors
	c.src.walk(doc, reflect.TypeFor[Config](), "", &errs)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil { // the walk found nothing: a safety net
		return fmt.Errorf("config: %s: %w", c.src.file, err)
	}
	if list := mapValue(doc, "apps"); list != nil && list.Kind == yaml.SequenceNode {
		for i, n := range list.Content {
			a := apps.App{Settings: apps.Defaults()}
			if err := n.Decode(&a); err != nil {
				return fmt.Errorf("config: %s: %w", c.src.file, err)
			}
			c.Apps[i] = a
		}
	}
	return nil
}

// mapValue returns the value of key in mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walk checks node n against type t: every key must be a field of t and
// every value must decode into its field. Problems are added to errs with
// the key's path and line; the line of each key is recorded.
func (s *source) walk(n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value leaves the default
	}
	bad := func(msg string) {
		*errs = append(*errs, &ValidationError{Field: path, Err: errors.New(msg), File: s.file, Line: n.Line})
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			bad(scalarProblem(t, n, err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping of keys (" + strings.Join(keysOf(t), ", ") + ")")
			return
		}
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge key: its mapping's keys are this mapping's
				s.walk(v, t, path, errs)
				continue
			}
			p := join(path, k.Value)
			s.lines[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &ValidationError{Field: p, File: s.file, Line: k.Line,
					Err: errors.New("unknown key (known keys here: " + strings.Join(keysOf(t), ", ") + ")")})
				continue
			}
			s.walk(v, ft, p, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("want a list")
			return
		}
		for i, e := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			s.lines[p] = e.Line
			s.walk(e, t.Elem(), p, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			s.lines[p] = n.Content[i].Line
			s.walk(n.Content[i+1], t.Elem(), p, errs)
		}
	}
}

// scalarProblem says in words what a scalar field wants.
func scalarProblem(t reflect.Type, n *yaml.Node, err error) string {
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	want := "a value of type " + t.String()
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	case reflect.String:
		want = "a string"
	}
	if n.Kind != yaml.ScalarNode {
		return "want " + want + ", not a list or mapping"
	}
	return "want " + want + ", not " + strconv.Quote(n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldsOf maps the YAML keys of struct t (inline structs included) to
// their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "inline"):
			for k, v := range fieldsOf(f.Type) {
				out[k] = v
			}
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for k := range fieldsOf(t) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
