package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/store"
)

// appView is an app as the console's JSON shows it.
type appView struct {
	ID                       string          `json:"id"`
	Key                      string          `json:"key"`
	Secret                   string          `json:"secret,omitempty"`
	Name                     string          `json:"name"`
	Enabled                  bool            `json:"enabled"`
	ClientEvents             bool            `json:"client_events"`
	UserAuth                 bool            `json:"user_auth"`
	SubscriptionCount        bool            `json:"subscription_count"`
	MaxConnections           int             `json:"max_connections"`
	MaxPresenceMembers       int             `json:"max_presence_members"`
	MaxClientEventsPerSecond int             `json:"max_client_events_per_second"`
	DailyMessageQuota        int64           `json:"daily_message_quota"`
	Webhooks                 []store.Webhook `json:"webhooks"`
	ReadOnly                 bool            `json:"read_only"`
	MessagesToday            int64           `json:"messages_today"`
	Connections              int64           `json:"connections"`
}

func (c *Console) view(a *apps.App, withSecret bool) appView {
	st := c.opts.Usage.Stats(a.ID)
	v := appView{ID: a.ID, Key: a.Key, Name: a.Name, Enabled: a.Enabled, ClientEvents: a.ClientEvents,
		UserAuth: a.UserAuth, SubscriptionCount: a.SubscriptionCount, MaxConnections: a.MaxConnections,
		MaxPresenceMembers: a.MaxPresenceMembers, MaxClientEventsPerSecond: a.MaxClientEventsPerSecond,
		DailyMessageQuota: a.DailyMessageQuota, Webhooks: store.WebhooksOf(a), ReadOnly: a.ReadOnly,
		MessagesToday: st.Messages, Connections: st.Connections}
	if withSecret {
		v.Secret = a.Secret
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
	var st store.Settings
	if err := decode(r, &st); err != nil {
		return err
	}
	a, err := c.opts.Store.CreateApp(r.Context(), st)
	if err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.log.Info("app created", "app_id", a.ID)
	writeJSON(w, http.StatusCreated, c.view(a, true))
	return nil
}

func (c *Console) updateApp(w http.ResponseWriter, r *http.Request) error {
	a, err := c.writableApp(r)
	if err != nil {
		return err
	}
	var st store.Settings
	if err := decode(r, &st); err != nil {
		return err
	}
	if a, err = c.opts.Store.UpdateApp(r.Context(), a.ID, st); err != nil {
		return storeError(err)
	}
	c.changed(r.Context())
	c.log.Info("app updated", "app_id", a.ID)
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
	c.log.Info("app secret rotated", "app_id", a.ID)
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
	c.log.Info("app deleted", "app_id", a.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changed reloads the registry after a change. The change is stored either
// way; should the reload fail, the server's store poll applies it shortly.
func (c *Console) changed(ctx context.Context) {
	if err := c.opts.AppsChanged(ctx); err != nil {
		c.log.Warn("reload apps after a console change", "err", err)
	}
}

// storeError maps store errors to the wire.
func storeError(err error) error {
	var fe store.FieldErrors
	switch {
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Message: "invalid settings", Fields: fe}
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "no such app in the store")
	}
	return err
}
