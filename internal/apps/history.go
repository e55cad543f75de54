package apps

import (
	"strconv"
	"strings"
	"time"

	"github.com/pixiu-io/pixiu/internal/protocol"
)

// History is which channels of an app keep their recent events (issue 15)
// and how many: the REST history endpoint, the console and the recovery
// script read them. Off unless Channels names some.
type History struct {
	// Channels are channel name prefixes ("price-", "private-orders-"), or
	// "*" for every channel; empty turns history off.
	Channels []string `json:"channels" yaml:"channels"`
	// MaxEvents is how many events each channel keeps (default 100).
	MaxEvents int `json:"max_events" yaml:"max_events"`
	// MaxAgeSeconds drops events older than this (default 3600); a channel
	// without publishes for that long keeps nothing.
	MaxAgeSeconds int `json:"max_age_seconds" yaml:"max_age_seconds"`
}

// Defaults and bounds of History.
const (
	DefaultHistoryMaxEvents     = 100
	DefaultHistoryMaxAgeSeconds = 3600
	MaxHistoryEvents            = 10_000
	MaxHistoryAgeSeconds        = 7 * 24 * 3600
	MaxHistoryChannels          = 20
)

// HistoryFor returns how many events and for how long the channel keeps;
// zero when it keeps none.
func (s *Settings) HistoryFor(channel string) (maxEvents int, maxAge time.Duration) {
	h := &s.History
	for _, p := range h.Channels {
		if p == "*" || strings.HasPrefix(channel, p) {
			return h.MaxEvents, time.Duration(h.MaxAgeSeconds) * time.Second
		}
	}
	return 0, 0
}

func validateHistory(fe FieldErrors, h History) {
	checkRange(fe, "history.max_events", int64(h.MaxEvents), 1, MaxHistoryEvents, "1")
	checkRange(fe, "history.max_age_seconds", int64(h.MaxAgeSeconds), 1, MaxHistoryAgeSeconds, "1")
	if len(h.Channels) > MaxHistoryChannels {
		fe["history.channels"] = "at most " + strconv.Itoa(MaxHistoryChannels) + " prefixes"
		return
	}
	for _, p := range h.Channels {
		if p != "*" && !protocol.ValidChannelName(p, MaxChannelPrefixLen) {
			fe["history.channels"] = "invalid prefix " + strconv.Quote(p) +
				` (want "*" or 1–200 characters of A-Z a-z 0-9 _ - = @ , . ;)`
		}
	}
}
