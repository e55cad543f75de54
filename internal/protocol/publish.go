package protocol

import "strconv"

// PublishLimits are the configured bounds of an event an application
// publishes (config limits, protocol.md §8). Zero fields take the protocol's
// defaults.
type PublishLimits struct {
	MaxEventNameLen   int // bytes, default 200
	MaxEventBytes     int // data bytes, default 10240
	MaxChannels       int // channels per event, default 100
	MaxChannelNameLen int // bytes, default 200
}

// Defaults of PublishLimits (protocol.md §8).
const (
	DefaultMaxEventNameLen   = 200
	DefaultMaxEventBytes     = 10 << 10
	DefaultMaxChannels       = 100
	DefaultMaxChannelNameLen = 200
)

func (l PublishLimits) withDefaults() PublishLimits {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&l.MaxEventNameLen, DefaultMaxEventNameLen)
	def(&l.MaxEventBytes, DefaultMaxEventBytes)
	def(&l.MaxChannels, DefaultMaxChannels)
	def(&l.MaxChannelNameLen, DefaultMaxChannelNameLen)
	return l
}

// The fields of a published event an EventProblem names.
const (
	FieldName     = "name"
	FieldData     = "data"
	FieldChannels = "channels"
	FieldSocketID = "socket_id"
)

// EventProblem is one thing wrong with a published event: the field and a
// message that names the configured limit it breaks. TooLarge marks data
// over MaxEventBytes (the REST API answers 413 Payload Too Large).
type EventProblem struct {
	Field    string
	Message  string
	TooLarge bool
}

func (p EventProblem) Error() string { return p.Message }

// CheckEvent is the one check of an event published through the REST API
// or the console's event creator (protocol.md §6.3). data nil means the
// event has none. It returns every problem, at most one per field, in the
// order name, data, channels, socket_id; nil means the event may be
// published.
func (l PublishLimits) CheckEvent(name string, data *string, channels []string, socketID string) []EventProblem {
	l = l.withDefaults()
	var out []EventProblem
	add := func(field, msg string) { out = append(out, EventProblem{Field: field, Message: msg}) }
	switch {
	case name == "":
		add(FieldName, "Missing event name")
	case len(name) > l.MaxEventNameLen:
		add(FieldName, "Event name too long: the limit is "+strconv.Itoa(l.MaxEventNameLen)+" bytes")
	case ReservedEventName(name):
		add(FieldName, "Event name "+clip(name, 64)+" is reserved: pusher: and pusher_internal: events cannot be published")
	}
	switch {
	case data == nil:
		add(FieldData, "Missing event data")
	case len(*data) > l.MaxEventBytes:
		out = append(out, EventProblem{Field: FieldData, TooLarge: true,
			Message: "Payload Too Large: event data is " + strconv.Itoa(len(*data)) + " bytes, the limit is " + sizeText(l.MaxEventBytes)})
	}
	if p := l.checkChannels(channels); p != "" {
		add(FieldChannels, p)
	}
	if socketID != "" && !ValidSocketID(socketID) {
		add(FieldSocketID, "Invalid socket_id '"+clip(socketID, 64)+"'")
	}
	return out
}

func (l PublishLimits) checkChannels(channels []string) string {
	switch {
	case len(channels) == 0:
		return "Missing channels: name 1 to " + strconv.Itoa(l.MaxChannels) + " channels"
	case len(channels) > l.MaxChannels:
		return "Too many channels: the limit is " + strconv.Itoa(l.MaxChannels) + " per event"
	}
	for _, c := range channels {
		if !ValidChannelName(c, l.MaxChannelNameLen) {
			return "Invalid channel name '" + clip(c, l.MaxChannelNameLen+10) + "': use 1 to " +
				strconv.Itoa(l.MaxChannelNameLen) + " letters, digits and _-=@,.;"
		}
		if len(channels) > 1 && ParseChannel(c).Kind == Encrypted {
			return "Cannot publish to several channels when one is encrypted (" + c + ")"
		}
	}
	return ""
}

// sizeText writes a byte count, with KB when it is a whole number of them.
func sizeText(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KB (" + strconv.Itoa(n) + " bytes)"
	}
	return strconv.Itoa(n) + " bytes"
}

// clip shortens s to at most n bytes for an error message, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
