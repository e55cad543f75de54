// Package apps owns the application model (id, key, secret, and the one
// Settings type with its defaults and validation) and the registry the
// server looks apps up in. Lookups are lock-free
// reads of an immutable snapshot; Replace swaps the whole snapshot.
package apps

import (
	"errors"
	"sort"
	"sync/atomic"
)

// App is one application: its credentials and its Settings. Values are
// immutable once published in a Registry: to change an app, build a new one
// and Replace. The tags are the config file's (YAML) and the CLI's and
// console's (JSON) shape.
type App struct {
	ID     string `json:"id" yaml:"id"`
	Key    string `json:"key" yaml:"key"`
	Secret string `json:"secret,omitempty" yaml:"secret"`

	Settings `yaml:",inline"`

	ReadOnly bool `json:"read_only" yaml:"-"` // came from the config file or environment
}

// ErrNotFound is returned for unknown app ids or keys.
var ErrNotFound = errors.New("apps: not found")

type snapshot struct {
	byKey map[string]*App
	byID  map[string]*App
}

// Registry holds the current set of apps. It is safe for concurrent use.
type Registry struct {
	snap atomic.Pointer[snapshot]
}

// NewRegistry returns a registry holding list.
func NewRegistry(list []*App) *Registry {
	r := &Registry{}
	r.Replace(list)
	return r
}

// Replace swaps in a new set of apps.
func (r *Registry) Replace(list []*App) {
	s := &snapshot{byKey: make(map[string]*App, len(list)), byID: make(map[string]*App, len(list))}
	for _, a := range list {
		s.byKey[a.Key] = a
		s.byID[a.ID] = a
	}
	r.snap.Store(s)
}

// ByKey returns the app with key.
func (r *Registry) ByKey(key string) (*App, error) {
	if a, ok := r.snap.Load().byKey[key]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

// ByID returns the app with id.
func (r *Registry) ByID(id string) (*App, error) {
	if a, ok := r.snap.Load().byID[id]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}

// List returns all apps sorted by id.
func (r *Registry) List() []*App {
	s := r.snap.Load()
	out := make([]*App, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
