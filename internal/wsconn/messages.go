package wsconn

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/signature"
)

const maxUserInfoBytes = 1024 // protocol.md §8: presence user object ≤ 1 KB

func itoa(n int) string { return strconv.Itoa(n) }

// handleMessage dispatches one client message (protocol.md §3). Loop only.
func (c *conn) handleMessage(b []byte) {
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
	case strings.HasPrefix(m.Event, protocol.ClientEventPrefix):
		c.clientEvent(m)
	default:
		c.sendError(&protocol.Error{Message: "Unsupported event received on socket: " + m.Event})
	}
}

func (c *conn) subscribe(m protocol.ClientMessage) {
	s, err := protocol.DecodeSubscribe(m.Data)
	if err != nil {
		c.sendError(&protocol.Error{Message: "Invalid subscribe data: expected {\"channel\": …}"})
		return
	}
	name := s.Channel
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
	err = c.t.opts.Hub.Subscribe(context.Background(), c.curApp(), c, name, member)
	if errors.Is(err, hub.ErrMemberLimit) {
		c.subscriptionError(name, "LimitReached", "Presence channel "+name+" is full: the limit is "+
			itoa(c.curApp().MaxPresenceMembers)+" members", 4100)
		return
	}
	if err != nil {
		c.t.log.Error("subscribe", "app_id", c.curApp().ID, "channel", name, "err", err)
		c.subscriptionError(name, "ServerError", "Subscription failed: the server could not record it, try again", 503)
		return
	}
	uid := ""
	if member != nil {
		uid = member.UserID
	}
	c.subs.add(name, uid)
	if kind.Kind == protocol.Private || kind.Kind == protocol.Encrypted || kind.Kind == protocol.Presence {
		c.authorized()
	}
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
	c.t.opts.Hub.Unsubscribe(context.Background(), c.curApp(), c, s.Channel, uid)
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
		c.sendError(&protocol.Error{Message: "Client event rejected: only private and presence channels accept client events (" + m.Channel + ")"})
		return
	case !subscribed:
		c.sendError(&protocol.Error{Message: "Client event rejected: not subscribed to channel " + m.Channel})
		return
	case len(m.Event) > 200:
		c.sendError(&protocol.Error{Message: "Client event rejected: event name longer than 200 characters"})
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
	if err := c.t.opts.Hub.ClientEvent(context.Background(), c.curApp().ID, c, m.Channel, m.Event, data, uid); err != nil {
		c.sendError(&protocol.Error{Message: "Client event could not be delivered, try again"})
	}
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
	c.Send(protocol.AppendEvent(nil, protocol.EventSigninSuccess, "", string(data), ""))
	if over {
		c.sendError(protocol.ErrWatchlistLimit)
	}
	if c.userID == "" {
		c.userID = u.ID
		c.r().userInfo, c.r().watchlist = u.UserInfo, u.Watchlist
		c.t.opts.Hub.SignIn(c.curApp().ID, c, u.ID, u.Watchlist)
		c.authorized()
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
