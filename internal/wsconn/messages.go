package wsconn

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/signature"
)

const maxUserInfoBytes = 1024 // protocol.md §8: presence user object ≤ 1 KB

func itoa(n int) string { return strconv.Itoa(n) }

// Subscribe/unsubscribe rate limit (issue 10 §1): a refused subscribe gets
// pusher:error 4301 (the protocol's rate-limit code; the connection stays
// open) and pusher:subscription_error 429; a connection that keeps going
// is closed with 4100 (the client backs off, then reconnects).
var errSubscribeAbuse = &protocol.Error{Code: protocol.CodeOverCapacity,
	Message: "Too many subscribe/unsubscribe requests: slow down"}

func subscribeRateError(rate, burst int) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeClientEventRate,
		Message: "Subscription rejected due to rate limit: at most " + itoa(rate) +
			" subscribe/unsubscribe requests per second (bursts of " + itoa(burst) + ")"}
}

// handleMessage handles one client message, or queues it while an engine
// call of c is in flight (offloop.go). Loop only; b may be reused after.
func (c *conn) handleMessage(b []byte) {
	if c.busy {
		c.wait(b)
		return
	}
	c.dispatch(b)
}

// dispatch dispatches one client message (protocol.md §3). Loop only.
func (c *conn) dispatch(b []byte) {
	m, err := protocol.DecodeClientMessage(b)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid message format: expected a JSON object with an \"event\" string"})
		return
	}
	switch {
	case m.Event == protocol.EventPing:
		c.Send(protocol.AppendEvent(nil, protocol.EventPong, "", "{}", ""))
	case m.Event == protocol.EventPong:
	case m.Event == protocol.EventSubscribe:
		c.subscribe(m)
	case m.Event == protocol.EventUnsubscribe:
		c.unsubscribe(m)
	case m.Event == protocol.EventSignin:
		c.signin(m)
	case m.Event == protocol.EventRecover:
		c.recoverHistory(m)
	case strings.HasPrefix(m.Event, protocol.ClientEventPrefix):
		c.clientEvent(m)
	default:
		c.sendError(&protocol.Error{Message: "Unsupported event received on socket: " + truncate(m.Event, 210)})
	}
}

func (c *conn) subscribe(m protocol.ClientMessage) {
	s, err := protocol.DecodeSubscribe(m.Data)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid subscribe data: expected {\"channel\": …}"})
		return
	}
	name := s.Channel
	if !c.allowSubscribe(name) {
		return
	}
	if !protocol.ValidChannelName(name, c.t.opts.MaxChannelNameLen) {
		c.subscriptionError(name, "InvalidChannel", "Invalid channel name '"+truncate(name, 210)+"': use 1–"+
			itoa(c.t.opts.MaxChannelNameLen)+" characters of A-Z a-z 0-9 _ - = @ , . ;", 400)
		return
	}
	if _, ok := c.subs.get(name); ok {
		c.sendError(&protocol.Error{Message: "Existing subscription to channel " + name})
		return
	}
	if len(c.subs) >= c.t.opts.MaxSubscriptions {
		c.subscriptionError(name, "LimitReached", "Too many subscriptions on this connection: the limit is "+
			itoa(c.t.opts.MaxSubscriptions), 429)
		return
	}
	kind := protocol.ParseChannel(name)
	var member *protocol.Member
	switch kind.Kind {
	case protocol.ServerToUser:
		if c.userID == "" || name != protocol.ServerToUserPrefix+c.userID {
			c.subscriptionError(name, "AuthError", "Only the signed-in user "+c.userID+" may subscribe to "+name, 403)
			return
		}
	case protocol.Private, protocol.Encrypted:
		err := signature.VerifyChannelAuth(c.curApp().Key, c.curApp().Secret, s.Auth, c.socketID, name, "")
		if err != nil && s.HasData { // SDKs sign socket:channel:data whenever data is given
			err = signature.VerifyChannelAuth(c.curApp().Key, c.curApp().Secret, s.Auth, c.socketID, name, s.ChannelData)
		}
		if err != nil {
			c.authError(name, err)
			return
		}
	case protocol.Presence:
		var ok bool
		if member, ok = c.presenceMember(name, s); !ok {
			return
		}
	}
	app := c.curApp()
	if c.t.offloop {
		c.subscribeOffLoop(app, name, member)
		return
	}
	c.subscribed(app, name, member, c.t.opts.Hub.Subscribe(context.Background(), app, c, name, member))
}

// subscribeOffLoop makes the engine calls of a subscription on a worker.
// subscription_succeeded still follows the engine's confirmation: the hub
// sends it from the worker once every engine step succeeded.
func (c *conn) subscribeOffLoop(app *apps.App, name string, member *protocol.Member) {
	var err error
	c.offload(func() { err = c.t.opts.Hub.Subscribe(context.Background(), app, c, name, member) },
		func() { c.subscribed(app, name, member, err) })
}

// subscribed records the outcome of hub.Subscribe. Loop only.
func (c *conn) subscribed(app *apps.App, name string, member *protocol.Member, err error) {
	if errors.Is(err, hub.ErrMemberLimit) {
		c.subscriptionError(name, "LimitReached", "Presence channel "+name+" is full: the limit is "+
			itoa(app.MaxPresenceMembers)+" members", 4100)
		return
	}
	if err != nil {
		// The engine failed (a cluster whose Redis does not answer). pusher-js
		// and Laravel Echo never retry a failed subscription, so the socket is
		// then closed with 4100: clients reconnect after backing off and
		// subscribe to all their channels again, which succeeds once the
		// cluster is back (docs/CLUSTER.md).
		c.t.log.Error("subscribe", "app_id", app.ID, "channel", name, "err", err)
		c.subscriptionError(name, "ServerError", "Subscription failed: the server could not record it, try again", 503)
		c.Close(protocol.ErrClusterUnavailable)
		return
	}
	uid := ""
	if member != nil {
		uid = member.UserID
	}
	c.subs.add(name, uid)
	if kind := protocol.ParseChannel(name); kind.Kind == protocol.Private || kind.Kind == protocol.Encrypted || kind.Kind == protocol.Presence {
		c.authorized()
	}
}

// allowSubscribe applies the subscribe rate limit (subLimiter); a refused
// subscribe is answered here. Loop only.
func (c *conn) allowSubscribe(name string) bool {
	o := &c.t.opts
	if o.MaxSubscribesPerSecond < 0 {
		return true
	}
	ok, abuse := c.subRate.subscribe(time.Now().UnixNano(), float32(o.MaxSubscribesPerSecond), float32(o.SubscribeBurst))
	switch {
	case abuse:
		c.Close(errSubscribeAbuse)
	case !ok:
		c.sendError(subscribeRateError(o.MaxSubscribesPerSecond, o.SubscribeBurst))
		c.subscriptionError(name, "LimitReached", "Too many subscriptions per second on this connection", 429)
	}
	return ok
}

// presenceMember authorizes a presence subscription and returns its member:
// from channel_data, or from the signed-in user when there is none
// (protocol.md §3.10 "Presence with signin").
func (c *conn) presenceMember(name string, s protocol.Subscribe) (*protocol.Member, bool) {
	if !s.HasData {
		if err := signature.VerifyChannelAuth(c.curApp().Key, c.curApp().Secret, s.Auth, c.socketID, name, ""); err != nil {
			c.authError(name, err)
			return nil, false
		}
		if c.userID == "" {
			c.subscriptionError(name, "AuthError", "Presence channels need channel_data or a signed-in user", 400)
			return nil, false
		}
		return &protocol.Member{UserID: c.userID, UserInfo: c.r().userInfo}, true
	}
	if err := signature.VerifyChannelAuth(c.curApp().Key, c.curApp().Secret, s.Auth, c.socketID, name, s.ChannelData); err != nil {
		c.authError(name, err)
		return nil, false
	}
	m, err := protocol.DecodeChannelData(s.ChannelData)
	if err != nil {
		c.subscriptionError(name, "InvalidChannelData", "Invalid channel_data: "+err.Error(), 400)
		return nil, false
	}
	if len(m.UserInfo) > maxUserInfoBytes {
		c.subscriptionError(name, "InvalidChannelData", "user_info is larger than 1 KB", 400)
		return nil, false
	}
	return &m, true
}

// authError reports a bad signature the way Pusher does (pusher:error, code
// null) and as pusher:subscription_error for apps that bind to it (protocol.md §3.6).
func (c *conn) authError(name string, err error) {
	msg := err.Error()
	if errors.Is(err, signature.ErrKeyMismatch) {
		msg = "Invalid key in subscription auth data"
	}
	c.sendError(&protocol.Error{Message: msg})
	c.Send(protocol.AppendSubscriptionError(nil, name, "AuthError", msg, 401))
}

func (c *conn) subscriptionError(name, typ, msg string, status int) {
	c.Send(protocol.AppendSubscriptionError(nil, name, typ, msg, status))
}

func (c *conn) unsubscribe(m protocol.ClientMessage) {
	s, err := protocol.DecodeSubscribe(m.Data)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid unsubscribe data: expected {\"channel\": …}"})
		return
	}
	uid, ok := c.subs.remove(s.Channel)
	if !ok {
		return // protocol.md §3.4: ignore
	}
	if o := &c.t.opts; o.MaxSubscribesPerSecond >= 0 {
		c.subRate.unsubscribe(time.Now().UnixNano(), float32(o.MaxSubscribesPerSecond), float32(o.SubscribeBurst))
	}
	app := c.curApp()
	if c.t.offloop {
		c.unsubscribeOffLoop(app, s.Channel, uid)
		return
	}
	c.t.opts.Hub.Unsubscribe(context.Background(), app, c, s.Channel, uid)
}

// unsubscribeOffLoop makes the engine calls of an unsubscribe on a worker;
// later messages of c wait for it, so a re-subscribe cannot overtake it.
func (c *conn) unsubscribeOffLoop(app *apps.App, name, uid string) {
	c.offload(func() { c.t.opts.Hub.Unsubscribe(context.Background(), app, c, name, uid) }, nil)
}

func (c *conn) clientEvent(m protocol.ClientMessage) {
	if !c.curApp().ClientEvents {
		c.sendError(&protocol.Error{Message: "To send client events, you must enable this feature in the Settings page of your dashboard."})
		return
	}
	uid, subscribed := c.subs.get(m.Channel)
	kind := protocol.ParseChannel(m.Channel)
	switch {
	case m.Channel == "":
		c.sendError(&protocol.Error{Message: "Client event rejected: no channel given"})
		return
	case !kind.AllowsClientEvents():
		c.sendError(&protocol.Error{Message: "Client event rejected: only private and presence channels accept client events (" + truncate(m.Channel, 210) + ")"})
		return
	case !subscribed:
		c.sendError(&protocol.Error{Message: "Client event rejected: not subscribed to channel " + truncate(m.Channel, 210)})
		return
	case len(m.Event) > c.t.opts.MaxEventNameLen:
		c.sendError(&protocol.Error{Message: "Client event rejected: event name longer than " + itoa(c.t.opts.MaxEventNameLen) + " bytes"})
		return
	}
	data := protocol.DataString(m.Data)
	if len(data) > c.t.opts.MaxEventBytes {
		c.sendError(&protocol.Error{Message: "Client event rejected: data larger than " + itoa(c.t.opts.MaxEventBytes) + " bytes"})
		return
	}
	if !c.allowClientEvent() {
		c.sendError(protocol.ErrClientEventRate)
		return
	}
	if c.t.offloop {
		c.clientEventOffLoop(c.curApp().ID, m.Channel, m.Event, data, uid)
		return
	}
	if err := c.t.opts.Hub.ClientEvent(context.Background(), c.curApp().ID, c, m.Channel, m.Event, data, uid); err != nil {
		c.sendError(errClientEventFailed)
	}
}

var errClientEventFailed = &protocol.Error{Message: "Client event could not be delivered, try again"}

// clientEventOffLoop publishes a client event from a worker.
func (c *conn) clientEventOffLoop(appID, channel, event, data, uid string) {
	var err error
	c.offload(func() { err = c.t.opts.Hub.ClientEvent(context.Background(), appID, c, channel, event, data, uid) },
		func() {
			if err != nil {
				c.sendError(errClientEventFailed)
			}
		})
}

// allowClientEvent applies the per-connection rate limit (protocol.md §3.9).
func (c *conn) allowClientEvent() bool {
	now := time.Now().Unix()
	if now != c.rateWindow {
		c.rateWindow, c.rateCount = now, 0
	}
	if int(c.rateCount) >= c.curApp().MaxClientEventsPerSecond {
		return false
	}
	c.rateCount++
	return true
}

// signin handles pusher:signin (protocol.md §3.10).
func (c *conn) signin(m protocol.ClientMessage) {
	if perr := checkSignin(m.Data); perr != nil {
		c.sendError(perr)
		return
	}
	s, err := protocol.DecodeSignin(m.Data)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid signin data: expected {\"auth\": …, \"user_data\": …}"})
		return
	}
	if err := signature.VerifyUserAuth(c.curApp().Key, c.curApp().Secret, s.Auth, c.socketID, s.UserData); err != nil {
		c.sendError(&protocol.Error{Message: "Sign-in failed: " + err.Error()})
		return
	}
	u, err := protocol.DecodeUserData(s.UserData)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Sign-in failed: " + err.Error()})
		return
	}
	if c.userID != "" && c.userID != u.ID {
		c.sendError(&protocol.Error{Message: "Sign-in failed: the connection is already signed in as another user"})
		return
	}
	over := len(u.Watchlist) > 100
	if over {
		u.Watchlist = u.Watchlist[:100]
	}
	data := protocol.AppendString([]byte(`{"user_data":`), s.UserData)
	data = append(data, '}')
	if c.userID != "" { // the same user again: nothing new to record
		c.signedIn(data, over, nil)
		return
	}
	c.userID = u.ID
	c.r().userInfo, c.r().watchlist = u.UserInfo, u.Watchlist
	if c.t.offloop {
		c.signInOffLoop(c.curApp().ID, u.ID, u.Watchlist, data, over)
		return
	}
	c.signedIn(data, over, c.t.opts.Hub.SignIn(c.curApp().ID, c, u.ID, u.Watchlist))
}

// signInOffLoop records the sign-in and looks the watchlist up on a worker;
// signin_success follows once both are done.
func (c *conn) signInOffLoop(appID, userID string, watchlist []string, data []byte, over bool) {
	var online []string
	c.offload(func() { online = c.t.opts.Hub.SignIn(appID, c, userID, watchlist) },
		func() { c.signedIn(data, over, online) })
}

// signedIn answers a recorded sign-in: pusher:signin_success, the watchlist
// limit error if it was cut, then the watched ids online now. Loop only.
func (c *conn) signedIn(data []byte, over bool, online []string) {
	c.Send(protocol.AppendEvent(nil, protocol.EventSigninSuccess, "", string(data), ""))
	if over {
		c.sendError(protocol.ErrWatchlistLimit)
	}
	if len(online) > 0 {
		c.Send(protocol.AppendEvent(nil, protocol.EventWatchlist, "", protocol.WatchlistData("online", online), ""))
	}
	c.authorized()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
