// Package pusher is a Go server SDK for Pusher Channels compatible servers:
// Pixiu and pusher.com. It is a drop-in for the official
// github.com/pusher/pusher-http-go/v5: the same Client fields, types and
// method signatures, so changing the import path is the whole migration:
//
//	pusherClient := pusher.Client{
//		AppID: "app-id", Key: "app-key", Secret: "app-secret",
//		Host: "127.0.0.1:6001", // plain HTTP unless Secure is set
//	}
//	err := pusherClient.Trigger("my-channel", "my-event", map[string]string{"message": "hello world"})
//
// The official API: Trigger, TriggerMulti, TriggerWithParams,
// TriggerMultiWithParams, TriggerExclusive, TriggerMultiExclusive,
// TriggerBatch, SendToUser, Channels, Channel, GetChannelUsers,
// AuthorizePrivateChannel, AuthorizePresenceChannel, AuthenticateUser (and
// the deprecated Authenticate*Channel), Webhook, ClientFromURL and
// ClientFromEnv. Pixiu adds, next to them:
//
//   - New(Options): a validated Client with Pixiu's settings (Scheme, Port,
//     MaxDataBytes, the async queue);
//   - context variants taking a context first: TriggerContext (multi-channel,
//     returning the raw answer), TriggerBatchContext, SendToUserContext,
//     ChannelsContext, ChannelContext, GetChannelUsersContext,
//     TerminateUserConnectionsContext; the official names use
//     context.Background();
//   - TerminateUserConnections, which pusher-http-go lacks;
//   - TriggerAsync with Flush and Close: fire-and-forget publishing through
//     a bounded queue (Clients built by New only);
//   - AuthorizeChannel for any channel type in one call;
//   - typed errors: validation failures wrap the Err* sentinels, non-2xx
//     answers are *HTTPError.
//
// Differences from pusher-http-go: ClientFromURL accepts any non-empty app
// id without "/" (Pixiu's ids are strings such as "app-id"; the official
// SDK accepts only digits); a Host without Secure means plain http unless it
// is a pusher.com host; Host may carry a scheme prefix ("http://h:6001");
// arguments are validated before any request (channel and event names,
// socket ids, data size); the default HTTP timeout is 10s, not 5s; Webhook
// decrypts encrypted channels' data only when a master key is set.
//
// Every REST call is signed as protocol.md §6.2 describes (the signing code is
// shared with the Pixiu server, so both sides agree by construction).
//
// A Client is safe for concurrent use by multiple goroutines once its fields
// are set. Call Close when done if TriggerAsync was used.
package pusher
