// Package restapi serves Pusher's HTTP API under /apps/{app_id}/… (protocol.md
// §6): publishing events and batches, channel queries, user termination. Every
// request is authenticated by its HMAC signature before its handler runs.
// Handlers return errors; one function (writeError) maps them to the wire.
package restapi
