package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/store"
)

// appView is an app as the console's JSON shows it: apps.App (without the
// secret in lists) and its usage.
type appView struct {
	apps.App
	MessagesToday int64 `json:"messages_today"`
	Connections   int64 `json:"connections"`
}

func (c *Console) view(a *apps.App, withSecret bool) appView {
	st := c.opts.Usage.Stats(a.ID)
	v := appView{App: *a, MessagesToday: st.Messages, Connections: st.Connections}
	if !withSecret {
		v.Secret = ""
	}
	if v.Webhooks == nil {
		v.Webhooks = []apps.Webhook{}
	}
	return v
}

func (c *Console) listApps(w http.ResponseWriter, r *http.Request) error {
	list := c.opts.Apps.List()
	out := make([]appView, len(list))
	for i, a := range list {
		out[i] = c.view(a, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

// app returns the served app named by the path's {id}.
func (c *Console) app(r *http.Request) (*apps.App, error) {
	a, err := c.opts.Apps.ByID(r.PathValue("id"))
	if err != nil {
		return nil, errorf(http.StatusNotFound, "no app with id %q", r.PathValue("id"))
	}
	return a, nil
}

// writableApp is app, refusing the read-only apps of the config file.
func (c *Console) writableApp(r *http.Request) (*apps.App, error) {
	a, err := c.app(r)
	if err != nil {
		return nil, err
	}
	if a.ReadOnly {
		return nil, errorf(http.StatusConflict,
			"app %s comes from the configuration file and is read-only here: change it in the file", a.ID)
	}
	return a, nil
}

func (c *Console) getApp(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c.view(a, true))
	return nil
}

func (c *Console) createApp(w http.ResponseWriter, r *http.Request) error {
	st := apps.Defaults()
	if err := decode(r, &st); err != nil {
		return err
	}
	a, err := c.opts.Store.CreateApp(r.Context(), st)
	if err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.log.InfoContext(r.Context(), "app created", "app_id", a.ID)
	writeJSON(w, http.StatusCreated, c.view(a, true))
	return nil
}

func (c *Console) updateApp(w http.ResponseWriter, r *http.Request) error {
	a, err := c.writableApp(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if a, err = c.opts.Store.UpdateApp(r.Context(), a.ID, func(st *apps.Settings) error {
		return patch(body, st)
	}); err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.log.InfoContext(r.Context(), "app updated", "app_id", a.ID)
	writeJSON(w, http.StatusOK, c.view(a, true))
	return nil
}

func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	a, err := c.writableApp(r)
	if err != nil {
		return err
	}
	if a, err = c.opts.Store.RotateSecret(r.Context(), a.ID); err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.log.InfoContext(r.Context(), "app secret rotated", "app_id", a.ID)
	writeJSON(w, http.StatusOK, c.view(a, true))
	return nil
}

func (c *Console) deleteApp(w http.ResponseWriter, r *http.Request) error {
	a, err := c.writableApp(r)
	if err != nil {
		return err
	}
	if err := c.opts.Store.DeleteApp(r.Context(), a.ID); err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.opts.Usage.Forget(a.ID)
	c.log.InfoContext(r.Context(), "app deleted", "app_id", a.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changed reloads the registry after a change. The change is stored either
// way; should the reload fail, the server's store poll applies it shortly.
func (c *Console) changed(ctx context.Context) {
	if err := c.opts.AppsChanged(ctx); err != nil {
		c.log.WarnContext(ctx, "reload apps after a console change", "err", err)
	}
}

// patch applies the JSON object body onto st: the settings it names are
// replaced, the others kept.
func patch(body []byte, st *apps.Settings) error {
	var fields map[string]json.RawMessage
	if err := decodeBytes(body, &fields); err != nil {
		return err
	}
	if _, ok := fields["webhooks"]; ok {
		st.Webhooks = nil // replaced as a whole, not merged element by element
	}
	return decodeBytes(body, st)
}

// storeError maps store errors to the wire.
func storeError(err error) error {
	var fe apps.FieldErrors
	switch {
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Message: "invalid settings", Fields: fe}
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "no such app in the store")
	}
	return err
}
