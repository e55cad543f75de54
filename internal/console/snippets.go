package console

import (
	"net"
	"net/http"
	"strconv"

	"github.com/pixiu-io/pixiu/internal/snippets"
)

// appSnippets answers GET /console/api/apps/{id}/snippets?host=H&port=P&tls=B:
// the getting-started code of package snippets (the one copy `pixiu apps
// show` prints too) with the app's credentials and the address the browser
// reached the console on, which is the server's public one even behind a
// proxy. A parameter left out is taken from the request (Host, TLS).
func (c *Console) appSnippets(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	host, port, tls := requestEndpoint(r)
	q := r.URL.Query()
	if q.Has("host") {
		host = q.Get("host")
	}
	if q.Has("port") {
		port = q.Get("port")
	}
	if q.Has("tls") {
		tls = q.Get("tls")
	}
	ep, err := snippets.ParseEndpoint(host, port, tls)
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", err.Error())
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"snippets": snippets.For(snippets.App{ID: a.ID, Key: a.Key, Secret: a.Secret}, ep),
	})
	return nil
}

// requestEndpoint is the host, port and TLS the request came in on.
func requestEndpoint(r *http.Request) (host, port, tls string) {
	tls = strconv.FormatBool(r.TLS != nil)
	port = "80"
	if r.TLS != nil {
		port = "443"
	}
	host = r.Host
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = snippets.HostForURL(h), p
	}
	return host, port, tls
}
