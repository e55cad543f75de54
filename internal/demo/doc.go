// Package demo serves the exchange demo: a trade form at /demo/trade whose
// handler publishes each trade as an "update" event on "price_channel", and a
// market page at /demo/market that shows those trades live with pusher-js.
//
// The demo uses Pixiu the way any application does: the trade handler
// publishes through a Publisher (in production the Go SDK, *pusher.Client,
// talking to the server's REST API over loopback) and the market page is a
// plain pusher-js client. It must not reach into the hub or any other server
// internals.
//
// The pages are embedded (//go:embed) and use no framework. pusher-js is not
// committed: `make build` copies it from the pinned npm package into
// pusherjs/ (gitignored), which is embedded too (EmbeddedPusherJS), and the
// demo serves it with its licences under /demo/vendor/. A binary built
// without that step serves the npm install named by Options.PusherJSPath
// when that file exists, and the pages load Pusher's CDN otherwise.
package demo
