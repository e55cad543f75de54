package server

import (
	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
)

// isDevApp reports whether a is the development app: the well-known id, key
// and secret printed in the README.
func isDevApp(a *apps.App) bool {
	d := config.DefaultApp()
	return a.ID == d.ID && a.Key == d.Key && a.Secret == d.Secret
}
