// Package recoveryjs serves the recovery script for pusher-js (issue 15) at
// /pixiu/recovery.js: embedded, no build step. A page wraps its Pusher
// client with PixiuRecovery.wrap; channels with history then recover the
// events missed while the connection was down (pixiu:recover).
package recoveryjs

import (
	_ "embed"
	"net/http"
	"strconv"
)

// Path is where the script is served.
const Path = "/pixiu/recovery.js"

//go:embed recovery.js
var script []byte

// Handler serves the script, cacheable for an hour and usable from any
// origin (pages load it with a <script> tag from their own site).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(script)))
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(script)
	})
}
