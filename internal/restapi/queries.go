package restapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// channels serves GET /apps/{id}/channels (protocol.md §6.5).
func (a *API) channels(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	q := r.URL.Query()
	prefix := q.Get("filter_by_prefix")
	wantUsers, wantSubs := false, false
	for _, at := range attrs(q) {
		switch at {
		case "user_count":
			if !strings.HasPrefix(prefix, "presence-") {
				return errorf(http.StatusBadRequest, "info=user_count requires filter_by_prefix=presence-")
			}
			wantUsers = true
		case "subscription_count":
			wantSubs = true
		default:
			return errorf(http.StatusBadRequest, "Unknown info attribute '"+at+"' for channel lists")
		}
	}
	counts, err := a.opts.Hub.Channels(r.Context(), req.app.ID, prefix)
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "Channel information unavailable")
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]map[string]int, len(counts))
	for _, name := range names {
		info := map[string]int{}
		if wantUsers {
			n, err := a.opts.Hub.MemberCount(r.Context(), req.app.ID, name)
			if err != nil {
				return errorf(http.StatusServiceUnavailable, "Channel information unavailable")
			}
			info["user_count"] = n
		}
		if wantSubs {
			info["subscription_count"] = counts[name]
		}
		out[name] = info
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}

// channel serves GET /apps/{id}/channels/{name} (protocol.md §6.6).
func (a *API) channel(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	name := r.PathValue("channel_name")
	if !protocol.ValidChannelName(name, a.opts.MaxChannelNameLen) {
		return errorf(http.StatusBadRequest, "Invalid channel name '"+name+"'")
	}
	kind := protocol.ParseChannel(name)
	var wantUsers, wantSubs, wantCache bool
	for _, at := range attrs(r.URL.Query()) {
		switch at {
		case "user_count":
			if kind.Kind != protocol.Presence {
				return errorf(http.StatusBadRequest, "info=user_count is only for presence channels")
			}
			wantUsers = true
		case "subscription_count":
			if kind.Kind == protocol.Presence {
				return errorf(http.StatusBadRequest, "info=subscription_count is not available for presence channels: use user_count")
			}
			wantSubs = true
		case "cache":
			if !kind.Cache {
				return errorf(http.StatusBadRequest, "info=cache is only for cache channels")
			}
			wantCache = true
		default:
			return errorf(http.StatusBadRequest, "Unknown info attribute '"+at+"'")
		}
	}
	ci, err := a.opts.Hub.Channel(r.Context(), req.app.ID, name)
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "Channel information unavailable")
	}
	out := map[string]any{"occupied": ci.Occupied}
	if wantUsers {
		out["user_count"] = ci.UserCount
	}
	if wantSubs {
		out["subscription_count"] = ci.SubscriptionCount
	}
	if wantCache && ci.Cache != nil {
		out["cache"] = map[string]any{"event": ci.Cache.Event, "data": ci.Cache.Data,
			"ttl": int(ci.Cache.TTL.Seconds())}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// users serves GET /apps/{id}/channels/{name}/users (protocol.md §6.7).
func (a *API) users(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	name := r.PathValue("channel_name")
	if protocol.ParseChannel(name).Kind != protocol.Presence || !protocol.ValidChannelName(name, a.opts.MaxChannelNameLen) {
		return errorf(http.StatusBadRequest, "Users can only be listed for presence channels")
	}
	ms, err := a.opts.Hub.Members(r.Context(), req.app.ID, name)
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "Channel information unavailable")
	}
	type user struct {
		ID string `json:"id"`
	}
	out := make([]user, len(ms))
	for i, m := range ms {
		out[i] = user{m.UserID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// terminate serves POST /apps/{id}/users/{user_id}/terminate_connections (§6.8).
func (a *API) terminate(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	uid := r.PathValue("user_id")
	if !protocol.ValidUserID(uid) {
		return errorf(http.StatusBadRequest, "Invalid user id '"+uid+"'")
	}
	a.opts.Hub.TerminateUser(req.app.ID, uid)
	writeRaw(w, http.StatusOK, emptyObject)
	return nil
}
