// Package store persists apps, daily usage, a few server settings (the
// console's password hash and session key) and the console's sessions in SQL: an embedded SQLite file by
// default (pure Go, no cgo) or PostgreSQL for multi-node deployments. Both
// engines share one schema and one set of queries; the differences (driver,
// placeholders) live in dialect.
//
// The store is the source of truth for apps created at runtime; the server
// loads them into the apps.Registry next to the read-only apps of the config
// file and polls Version to pick up changes made by other processes (the CLI,
// other nodes). The store logs only that it made its SQLite files private
// (Options.Log); secrets pass through it.
//
// A Store is safe for concurrent use by several goroutines and, through the
// database's own locking, by several processes.
package store
