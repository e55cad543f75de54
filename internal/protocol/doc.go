// Package protocol holds the Pusher Channels protocol 7 wire shapes: event
// names, error and close codes, channel kinds, name and socket-id validation,
// limits, and the encoders/decoders for frames. It is pure: no I/O, no state.
//
// References to "protocol.md §N" are to ../shared/protocol.md, the team's
// conformance checklist.
package protocol
