package wsconn

import (
	"context"
	"fmt"
	"log/slog"
)

// gnetLogger routes gnet's logs into slog at debug level (errors at error).
type gnetLogger struct{ log *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.at(slog.LevelDebug, f, a) }
func (g gnetLogger) Infof(f string, a ...any)  { g.at(slog.LevelDebug, f, a) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.at(slog.LevelWarn, f, a) }
func (g gnetLogger) Errorf(f string, a ...any) { g.at(slog.LevelError, f, a) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.at(slog.LevelError, f, a) }

func (g gnetLogger) at(l slog.Level, f string, a []any) {
	if g.log.Enabled(context.Background(), l) {
		g.log.Log(context.Background(), l, fmt.Sprintf(f, a...))
	}
}
