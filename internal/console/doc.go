// Package console serves Pixiu's web console under /console: an admin
// sign-in, the apps pages (create, settings, credentials with getting-started
// snippets, rotate secret, delete), a per-app debug console streaming what
// happens in the app over Server-Sent Events, an event creator that publishes
// through the same path as the REST API, and a usage page.
//
// The UI is plain HTML, CSS and JavaScript embedded in the binary; the JSON
// endpoints under /console/api are thin handlers that return errors, mapped
// to the wire by one function (writeError).
//
// Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure under TLS)
// that expire; every mutating request also carries a CSRF token, read by the
// page from a meta tag and sent back in the X-CSRF-Token header.
//
// The debug stream comes from a Tap, which the server registers as a hub
// Observer. The Tap costs one atomic load per event while nobody watches,
// and each watcher has a bounded ring that drops its oldest entries when the
// browser falls behind: a busy app cannot exhaust memory.
//
// The console never imports another transport (wsconn, restapi): it reaches
// the realtime state through the hub, and apps through the store.
package console
