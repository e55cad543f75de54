package config

import (
	"errors"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvVar returns the environment variable of a setting's key path:
// PIXIU_ and the path in upper case with "." as "_"
// (limits.max_event_bytes → PIXIU_LIMITS_MAX_EVENT_BYTES), except for a few
// shorter names kept from earlier releases.
func EnvVar(path string) string {
	switch path {
	case "cluster.redis":
		return "PIXIU_CLUSTER"
	case "cluster.node_id":
		return "PIXIU_NODE_ID"
	case "pprof_addr":
		return "PIXIU_PPROF"
	case "limits.max_outbound_bytes":
		return "PIXIU_MAX_OUTBOUND_BYTES"
	}
	return "PIXIU_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// Setting is one server setting: its key path in the file and its
// environment variable.
type Setting struct {
	Key, Env string
}

// Settings lists every setting of the file with its environment variable,
// in the order of Config. Apps are not among them: the file or the store
// holds them (one app may come from PIXIU_APP_ID, PIXIU_APP_KEY and
// PIXIU_APP_SECRET).
func Settings() []Setting {
	var out []Setting
	eachLeaf(reflect.TypeFor[Config](), "", func(path string, _ []int) {
		out = append(out, Setting{Key: path, Env: EnvVar(path)})
	})
	return out
}

// eachLeaf calls f with the key path and field index of every setting of
// struct t (a field that is not itself a struct of settings), apps excepted.
func eachLeaf(t reflect.Type, path string, f func(path string, index []int)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "-" || name == "" || (path == "" && name == "apps") {
			continue
		}
		p := join(path, name)
		if sf.Type.Kind() == reflect.Struct && !reflect.PointerTo(sf.Type).Implements(unmarshalerType) {
			eachLeaf(sf.Type, p, func(sub string, index []int) { f(sub, append([]int{i}, index...)) })
			continue
		}
		f(p, []int{i})
	}
}

// applyEnv sets every setting whose PIXIU_* variable is set, read as its
// YAML value would be (a list of strings: comma-separated), and adds the
// app of PIXIU_APP_ID/KEY/SECRET.
func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	var errs Errors
	root := reflect.ValueOf(c).Elem()
	eachLeaf(root.Type(), "", func(path string, index []int) {
		name := EnvVar(path)
		v := getenv(name)
		if v == "" {
			return
		}
		c.src.env[path] = name
		field := root.FieldByIndex(index)
		t := field.Type()
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		val := reflect.New(t)
		switch {
		case t.Kind() == reflect.String:
			val.Elem().SetString(v)
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String: // a comma-separated list
			list := reflect.MakeSlice(t, 0, 4)
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = reflect.Append(list, reflect.ValueOf(item).Convert(t.Elem()))
				}
			}
			val.Elem().Set(list)
		default:
			if err := (&yaml.Node{Kind: yaml.ScalarNode, Value: v}).Decode(val.Interface()); err != nil {
				errs = append(errs, &ValidationError{Field: path, Env: name,
					Err: errors.New(scalarProblem(t, &yaml.Node{Kind: yaml.ScalarNode, Value: v}, err))})
				return
			}
		}
		if field.Kind() == reflect.Pointer {
			field.Set(val)
		} else {
			field.Set(val.Elem())
		}
	})
	if len(errs) > 0 {
		return errs
	}
	// One app from the environment, added to the file's apps.
	id, key, secret := getenv("PIXIU_APP_ID"), getenv("PIXIU_APP_KEY"), getenv("PIXIU_APP_SECRET")
	if id != "" || key != "" || secret != "" {
		a := DefaultApp()
		a.ID, a.Key, a.Secret, a.Name = id, key, secret, id
		c.Apps = append(c.Apps, a)
	}
	return nil
}
