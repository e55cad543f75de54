package wsconn

import (
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
)

// Authorized connections (apps.Settings.UserAuth, Pusher's "Authorized
// Connections"): a connection counts as authorized once it has signed in or
// subscribed to a private, private-encrypted or presence channel. One that
// is not authorized UserAuthTimeout after it opened is closed with 4009 by
// the sweeper (within a second of the deadline). Connections opened before
// user_auth was switched on are not affected; switching it off spares every
// connection.

// startAuthDeadline starts the authorization clock of a new connection of app.
func (c *conn) startAuthDeadline(app *apps.App) {
	if app.UserAuth {
		c.authBy.Store(time.Now().Add(c.t.opts.UserAuthTimeout).UnixNano())
	}
}

// authorized stops the clock: the connection signed in or subscribed to an
// authorized channel. Loop only (any goroutine would do: it is atomic).
func (c *conn) authorized() { c.authBy.Store(0) }

// authExpired reports whether the connection's time to authorize ran out at
// now while its app still asks for it.
func (c *conn) authExpired(now int64) bool {
	by := c.authBy.Load()
	return by != 0 && now > by && c.curApp().UserAuth
}
