package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// MaxHistoryTrades is how many kept trades the market page opens with.
const MaxHistoryTrades = 25

// trades serves GET /demo/trades: {"trades":[{"id","data"}]}, the last
// trades kept in Channel's history, oldest first ([] when there is no
// history). The market page shows them, then recovers from the last id.
func (d *Handler) trades(w http.ResponseWriter, r *http.Request) {
	type trade struct {
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	out := struct {
		Trades []trade `json:"trades"`
	}{Trades: []trade{}}
	if d.history != nil && d.appKey() != "" {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		evs, err := d.history(ctx, MaxHistoryTrades)
		if err != nil {
			d.log.Warn("read the trades' history", "err", err)
		}
		for _, ev := range evs {
			if ev.Event == Event && json.Valid([]byte(ev.Data)) {
				out.Trades = append(out.Trades, trade{ID: ev.ID, Data: json.RawMessage(ev.Data)})
			}
		}
	}
	b, _ := json.Marshal(out) // cannot fail: valid raw JSON and strings
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
