package restapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
)

// historyEvent is one event of GET /apps/{id}/channels/{name}/history.
type historyEvent struct {
	ID     string `json:"id"`
	Event  string `json:"event"`
	Data   string `json:"data"`
	UserID string `json:"user_id,omitempty"`
}

// history serves GET /apps/{id}/channels/{name}/history?limit=&since=
// (issue 15): the channel's kept events, oldest first. Without since, the
// newest limit events; with since (an id the channel still keeps), the
// events after it, at most limit, and "more" when others follow. 404 when
// the app keeps no history for the channel, 410 when since is no longer
// kept (the caller refetches its state), 400 for a bad parameter.
func (a *API) history(w http.ResponseWriter, r *http.Request) error {
	req := reqOf(r)
	name := r.PathValue("channel_name")
	if !protocol.ValidChannelName(name, a.opts.MaxChannelNameLen) {
		return errorf(http.StatusBadRequest, "Invalid channel name '"+name+"'")
	}
	q := r.URL.Query()
	limit := a.opts.MaxHistoryLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > a.opts.MaxHistoryLimit {
			return errorf(http.StatusBadRequest, "limit must be a number between 1 and "+strconv.Itoa(a.opts.MaxHistoryLimit))
		}
		limit = n
	}
	since := q.Get("since")
	if _, _, ok := protocol.ParseHistoryID(since); since != "" && !ok {
		return errorf(http.StatusBadRequest, `since must be an event id "<ms>-<seq>" as returned in "id"`)
	}
	page, err := a.opts.Hub.History(r.Context(), req.app.ID, name, hub.HistoryQuery{Since: since, Limit: limit})
	switch {
	case errors.Is(err, hub.ErrHistoryOff):
		return errorf(http.StatusNotFound, "History is off for channel '"+name+"': add a prefix of it to the app's history.channels setting")
	case errors.Is(err, hub.ErrHistoryGone):
		return errorf(http.StatusGone, "Event "+since+" is no longer in the history of channel '"+name+"': events after it may be lost, refetch the state")
	case err != nil:
		return errorf(http.StatusServiceUnavailable, "Channel history unavailable")
	}
	events := make([]historyEvent, len(page.Events))
	for i, ev := range page.Events {
		events[i] = historyEvent{ID: ev.ID, Event: ev.Event, Data: ev.Data, UserID: ev.UserID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "more": page.More})
	return nil
}
