package redis

import (
	"encoding/binary"
	"errors"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

// Wire format of a published message: a version byte, the notice byte, then
// app, channel, event, data, user id and excluded socket, each as a uvarint
// length and its bytes, and, on events kept in history, the id the same way
// (appended by the publishing script, history.go). Decoding slices the
// payload without copying.
const codecVersion = 1

var errBadPayload = errors.New("redis: malformed message payload")

func encodeMessage(m cluster.Message) []byte {
	n := 2 + 6*binary.MaxVarintLen32 + len(m.AppID) + len(m.Channel) + len(m.Event) +
		len(m.Data) + len(m.UserID) + len(m.ExcludeSocket)
	b := make([]byte, 0, n)
	b = append(b, codecVersion, byte(m.Notice))
	for _, s := range [...]string{m.AppID, m.Channel, m.Event, m.Data, m.UserID, m.ExcludeSocket} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeMessage(p string) (cluster.Message, error) {
	var m cluster.Message
	if len(p) < 2 || p[0] != codecVersion {
		return m, errBadPayload
	}
	m.Notice = cluster.Notice(p[1])
	p = p[2:]
	for _, dst := range [...]*string{&m.AppID, &m.Channel, &m.Event, &m.Data, &m.UserID, &m.ExcludeSocket} {
		n, k := uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return m, errBadPayload
		}
		*dst = p[k : k+int(n)]
		p = p[k+int(n):]
	}
	if len(p) > 0 { // the history id
		n, k := uvarint(p)
		if k <= 0 || uint64(len(p)-k) != n {
			return m, errBadPayload
		}
		m.ID = p[k:]
	}
	return m, nil
}

// uvarint is binary.Uvarint over a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// Cached events are stored as uvarint(len(event)) event data.
func encodeCache(event, data string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen32+len(event)+len(data))
	b = binary.AppendUvarint(b, uint64(len(event)))
	b = append(b, event...)
	return append(b, data...)
}

func decodeCache(s string) (event, data string, err error) {
	n, k := uvarint(s)
	if k <= 0 || uint64(len(s)-k) < n {
		return "", "", errBadPayload
	}
	return s[k : k+int(n)], s[k+int(n):], nil
}
