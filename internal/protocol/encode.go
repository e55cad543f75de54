package protocol

import (
	"strconv"
	"unicode/utf8"
)

// AppendEvent appends the server→client frame
// {"event":event,"channel":channel,"data":data,"user_id":userID} to dst.
// data is the event's data string and is written as a JSON string (double
// encoding, protocol.md §2); channel and userID are omitted when empty.
// It allocates nothing beyond growing dst.
func AppendEvent(dst []byte, event, channel, data, userID string) []byte {
	return AppendEventID(dst, event, channel, data, userID, "")
}

// AppendEventID is AppendEvent with the event's history id (issue 15) as a
// last top-level field, `,"id":"<ms>-<seq>"`, when id is not empty. Official
// clients ignore fields they do not know (pusher-js's Protocol.decodeMessage
// keeps event, channel, data and user_id); the recovery script reads it.
func AppendEventID(dst []byte, event, channel, data, userID, id string) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendString(dst, channel)
	}
	dst = append(dst, `,"data":`...)
	dst = AppendString(dst, data)
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = AppendString(dst, userID)
	}
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = AppendString(dst, id)
	}
	return append(dst, '}')
}

// AppendError appends a pusher:error frame; its data is an object, and a zero
// code is written as null (protocol.md §3.3).
func AppendError(dst []byte, e *Error) []byte {
	dst = append(dst, `{"event":"pusher:error","data":{"code":`...)
	if e.Code == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(e.Code), 10)
	}
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, e.Message)
	return append(dst, "}}"...)
}

// AppendSubscriptionError appends pusher:subscription_error for channel, in
// the shape pusher-js surfaces to apps: {type, error, status} (protocol.md §3.6).
func AppendSubscriptionError(dst []byte, channel, typ, msg string, status int) []byte {
	var data []byte
	data = append(data, `{"type":`...)
	data = AppendString(data, typ)
	data = append(data, `,"error":`...)
	data = AppendString(data, msg)
	data = append(data, `,"status":`...)
	data = strconv.AppendInt(data, int64(status), 10)
	data = append(data, '}')
	return AppendEvent(dst, EventSubscriptionError, channel, string(data), "")
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal. Invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
