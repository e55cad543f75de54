package restapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/pixiu-io/pixiu/internal/httpwire"
)

// decodeBody decodes a JSON request body into v. The body must be valid
// UTF-8 without lone surrogate escapes: encoding/json would silently turn
// either into U+FFFD, and the event delivered would not be the one sent.
func decodeBody(body []byte, v any) error {
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, "Invalid JSON body: not valid UTF-8")
	}
	if !surrogatesPaired(body) {
		return errorf(http.StatusBadRequest, "Invalid JSON body: \\u escape of an unpaired UTF-16 surrogate")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, bodyError(err))
	}
	return nil
}

// surrogatesPaired reports whether every \uD800–\uDBFF escape in the JSON
// text b is followed by a \uDC00–\uDFFF escape, and no low one stands
// alone. Backslashes only occur in strings of valid JSON, each starting an
// escape; invalid JSON is left to the decoder.
func surrogatesPaired(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // a one-character escape
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			continue
		}
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return false
		case 0xD800 <= r && r <= 0xDBFF:
			lo, ok := rune(0), false
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				lo, ok = hex4(b, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 11
		default:
			i += 5
		}
	}
	return true
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// refuseBody answers e (413) to a request whose body is over the limit and
// closes the connection gracefully: the answer is flushed at once, then what
// the client still sends is read and discarded for at most httpwire.Linger,
// so a client still sending its body reads the 413 instead of a reset. A
// client that waits for 100 Continue never sends the body: nothing to drain.
func refuseBody(w http.ResponseWriter, r *http.Request, log *slog.Logger, e *Error) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // keep net/http from discarding the body before the answer
	w.Header().Set("Connection", "close")
	writeError(w, r, log, e)
	if rc.Flush() != nil || r.Header.Get("Expect") != "" {
		return
	}
	if rc.SetReadDeadline(time.Now().Add(httpwire.Linger)) != nil {
		return // not a network connection (restapi.API.Direct): nothing to drain
	}
	_, _ = io.Copy(io.Discard, r.Body)
}
