package wsconn

import (
	"errors"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// AppsChanged makes open connections follow the app registry: each picks up
// its app's new settings (secret, switches, limits); connections of a deleted
// app are closed with 4001 and those of a disabled app with 4003.
// Call it after every apps.Registry.Replace.
func (t *Transport) AppsChanged() {
	t.regMu.Lock()
	list := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		list = append(list, c)
	}
	t.regMu.Unlock()
	for _, c := range list {
		old := c.curApp()
		a, err := t.opts.Apps.ByID(old.ID)
		switch {
		case errors.Is(err, apps.ErrNotFound) || (err == nil && a.Key != old.Key):
			c.Close(&protocol.Error{Code: protocol.CodeAppNotFound, Message: "Application was deleted"})
		case err != nil:
		case !a.Enabled:
			c.Close(protocol.ErrAppDisabled)
		default:
			c.app.Store(a)
		}
	}
}
