package pusher

import (
	"fmt"
	"strings"
)

// Limits enforced before a request is sent, as in the official SDKs.
const (
	maxChannelNameLen = 200
	maxEventNameLen   = 200
	maxChannels       = 100
	defaultMaxData    = 10 * 1024

	serverToUserPrefix = "#server-to-user-"
	encryptedPrefix    = "private-encrypted-"
	presencePrefix     = "presence-"
)

// validChannelName reports whether name is a valid channel name:
// ^[-a-zA-Z0-9_=@,.;]+$ up to 200 bytes, optionally prefixed by
// "#server-to-user-".
func validChannelName(name string) bool {
	if len(name) > maxChannelNameLen {
		return false
	}
	rest, _ := strings.CutPrefix(name, serverToUserPrefix)
	return validNameChars(rest)
}

func validNameChars(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_=@,.;", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validSocketID reports whether id matches ^\d+\.\d+$.
func validSocketID(id string) bool {
	a, b, ok := strings.Cut(id, ".")
	return ok && allDigits(a) && allDigits(b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkChannel(name string) error {
	if !validChannelName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidChannel, name)
	}
	return nil
}

func checkChannels(channels []string) error {
	if len(channels) == 0 || len(channels) > maxChannels {
		return fmt.Errorf("%w: %d given, want 1 to %d", ErrTooManyChannels, len(channels), maxChannels)
	}
	for _, ch := range channels {
		if err := checkChannel(ch); err != nil {
			return err
		}
	}
	if len(channels) > 1 {
		for _, ch := range channels {
			if isEncrypted(ch) {
				return fmt.Errorf("%w: cannot trigger to several channels when one is encrypted (%q)", ErrEncryption, ch)
			}
		}
	}
	return nil
}

func checkEvent(name string) error {
	if name == "" || len(name) > maxEventNameLen {
		return fmt.Errorf("%w: %q (length %d, want 1 to %d)", ErrInvalidEvent, name, len(name), maxEventNameLen)
	}
	return nil
}

// checkSocketID accepts an empty id (no exclusion).
func checkSocketID(id string) error {
	if id != "" && !validSocketID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidSocketID, id)
	}
	return nil
}

func checkUserID(id string) error {
	if len(id) > maxChannelNameLen || !validNameChars(id) {
		return fmt.Errorf("%w: %q", ErrInvalidUserID, id)
	}
	return nil
}

func isEncrypted(channel string) bool { return strings.HasPrefix(channel, encryptedPrefix) }
func isPresence(channel string) bool  { return strings.HasPrefix(channel, presencePrefix) }

// firstError returns the first non-nil error, so validation reports one
// problem at a time.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
