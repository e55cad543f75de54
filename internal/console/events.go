package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/pixiu-io/pixiu/internal/hub"
	"github.com/pixiu-io/pixiu/internal/protocol"
	"github.com/pixiu-io/pixiu/internal/usage"
)

// sendEvent is the event creator: it publishes like POST /apps/{id}/events
// (quota check and count, then hub.Publish), so the event reaches
// subscribers and shows in the debug console.
func (c *Console) sendEvent(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	var body struct {
		Channel string `json:"channel"`
		Event   string `json:"event"`
		Data    string `json:"data"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if fe := c.checkEvent(body.Channel, body.Event, body.Data); len(fe) > 0 {
		return &Error{Status: http.StatusBadRequest, Message: "invalid event", Fields: fe}
	}
	if !a.Enabled {
		return errorf(http.StatusForbidden, "app %s is disabled", a.ID)
	}
	if err := c.opts.Admit(r.Context(), a, 1); err != nil {
		var qe *usage.QuotaError
		if errors.As(err, &qe) {
			msg := overQuotaMessage(qe)
			c.opts.Tap.Error(a.ID, http.StatusForbidden, "event creator: "+msg)
			return errorf(http.StatusForbidden, "%s", msg)
		}
		return err
	}
	if err := c.opts.Hub.Publish(r.Context(), a.ID, []string{body.Channel}, body.Event, body.Data, ""); err != nil {
		return errorf(http.StatusServiceUnavailable, "publish failed: the cluster engine is unavailable")
	}
	c.published.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	return nil
}

// OverQuotaMessage is the message a publish over the daily quota is
// refused with (by the REST API and the event creator alike).
func OverQuotaMessage(appID string, used, quota int64) string {
	return "Over quota: app " + appID + " has used " + strconv.FormatInt(used, 10) + " of its " +
		strconv.FormatInt(quota, 10) + " daily messages; publishing resumes at 00:00 UTC"
}

func overQuotaMessage(qe *usage.QuotaError) string {
	return OverQuotaMessage(qe.AppID, qe.Used, qe.Quota)
}

// checkEvent checks an event of the event creator: protocol.CheckEvent, as
// for the REST API, plus the creator's own rules (it sends one channel's
// plain JSON data, so it cannot publish to encrypted channels).
func (c *Console) checkEvent(channel, event, data string) map[string]string {
	fe := map[string]string{}
	var channels []string
	if channel != "" {
		channels = []string{channel}
	}
	for _, p := range c.limits.CheckEvent(event, &data, channels, "") {
		field := map[string]string{protocol.FieldName: "event", protocol.FieldChannels: "channel"}[p.Field]
		if field == "" {
			field = p.Field
		}
		fe[field] = p.Message
	}
	// The event creator names one channel: an empty one is just missing (the
	// REST API's "Missing channels: name 1 to 1 channels" would puzzle here).
	if channel == "" {
		fe["channel"] = "must not be empty"
	}
	if fe["channel"] == "" && protocol.ParseChannel(channel).Kind == protocol.Encrypted {
		fe["channel"] = "encrypted channels need the payload encrypted by a server SDK"
	}
	if fe["data"] == "" && !json.Valid([]byte(data)) {
		fe["data"] = "must be valid JSON"
	}
	return fe
}

type hourView struct {
	Hour     time.Time `json:"hour"`
	Messages int64     `json:"messages"`
	Peak     int64     `json:"peak_connections"`
}

func (c *Console) appUsage(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	hist, err := c.opts.Usage.History(r.Context(), a.ID, 24)
	if err != nil {
		return err
	}
	hours := make([]hourView, len(hist))
	for i, h := range hist {
		hours[i] = hourView{h.Hour, h.Messages, h.Peak}
	}
	st := c.opts.Usage.Stats(a.ID)
	writeJSON(w, http.StatusOK, map[string]any{
		"day": st.Day, "messages_today": st.Messages, "quota": a.DailyMessageQuota,
		"connections": st.Connections, "peak_connections": st.PeakToday, "max_connections": a.MaxConnections,
		"nodes": st.Nodes, "cluster_wide": st.ClusterWide,
		"hours": hours, "refresh_seconds": int(st.FlushInterval / time.Second),
	})
	return nil
}

// appChannels lists the app's occupied channels (for the event creator).
func (c *Console) appChannels(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	counts, err := c.opts.Hub.Channels(r.Context(), a.ID, "")
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "channel information unavailable")
	}
	type ch struct {
		Name          string `json:"name"`
		Subscriptions int    `json:"subscription_count"`
	}
	out := make([]ch, 0, len(counts))
	for n, k := range counts {
		out = append(out, ch{n, k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > 200 {
		out = out[:200]
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}

// historyLimit is how many kept events the debug console loads at most (the
// newest ones).
const historyLimit = 100

// channelHistory serves GET /console/api/apps/{id}/history?channel=NAME for
// the debug console's "Load history": the channel's newest kept events,
// oldest first, read through the hub as GET
// /apps/{id}/channels/{name}/history reads them. 404 when the app keeps no
// history for the channel; an empty list when nothing was published within
// its window.
func (c *Console) channelHistory(w http.ResponseWriter, r *http.Request) error {
	a, err := c.app(r)
	if err != nil {
		return err
	}
	name, maxLen := r.URL.Query().Get("channel"), c.limits.MaxChannelNameLen
	if maxLen <= 0 {
		maxLen = 200 // the documented default, as protocol.PublishLimits
	}
	if !protocol.ValidChannelName(name, maxLen) {
		return &Error{Status: http.StatusBadRequest, Message: "invalid channel name",
			Fields: map[string]string{"channel": "must be 1 to " + strconv.Itoa(maxLen) +
				" characters of a-z, A-Z, 0-9 and -_=@,.;"}}
	}
	page, err := c.opts.Hub.History(r.Context(), a.ID, name, hub.HistoryQuery{Limit: historyLimit})
	switch {
	case errors.Is(err, hub.ErrHistoryOff):
		return errorf(http.StatusNotFound, "history is off for channel %s: add a prefix of it to the app's history channels", name)
	case err != nil:
		return errorf(http.StatusServiceUnavailable, "channel history unavailable: the cluster engine is unavailable")
	}
	type event struct {
		ID     string `json:"id"`
		Event  string `json:"event"`
		Data   string `json:"data"`
		UserID string `json:"user_id,omitempty"`
	}
	out := make([]event, len(page.Events))
	for i, ev := range page.Events {
		out[i] = event{ev.ID, ev.Event, ev.Data, ev.UserID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": name, "events": out, "more": page.More})
	return nil
}
