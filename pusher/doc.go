// Package pusher is a Go server SDK for Pusher Channels compatible servers:
// Pixiu and pusher.com. It mirrors the official pusher-http-go SDK with an
// idiomatic, context-aware API:
//
//   - publish: Trigger, TriggerBatch, SendToUser, and TriggerAsync with Flush
//     and Close for fire-and-forget publishing through a bounded queue;
//   - query: Channels, Channel, Users; manage: TerminateUserConnections;
//   - authorize clients: AuthorizeChannel (private, presence and
//     private-encrypted channels) and AuthenticateUser (user sign-in);
//   - receive: Webhook verifies and parses webhook requests.
//
// Every REST call is signed as protocol.md §6.2 describes (the signing code is
// shared with the Pixiu server, so both sides agree by construction).
// Arguments are validated as the official SDKs do before any request is
// made; validation failures wrap the Err* sentinels, and non-2xx answers are
// returned as *HTTPError.
//
// To talk to a local Pixiu server:
//
//	c, err := pusher.New(pusher.Options{
//		AppID: "app-id", Key: "app-key", Secret: "app-secret",
//		Host: "127.0.0.1:6001", // plain HTTP unless Secure or Scheme say otherwise
//	})
//	...
//	_, err = c.Trigger(ctx, []string{"my-channel"}, "my-event", map[string]string{"hello": "world"}, nil)
//
// A Client is safe for concurrent use by multiple goroutines. Call Close when
// done if TriggerAsync was used.
package pusher
