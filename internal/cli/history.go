package cli

import (
	"context"
	"encoding/json"
	"io"

	"github.com/pixiu-io/pixiu/pusher"
)

// runHistory runs `pixiu history`: print a channel's kept events (issue 15)
// as JSON, oldest first.
func runHistory(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf connFlags
	cmd := newCommand("pixiu history", "pixiu history --channel C [--limit N] [--since ID]", stdout, stderr)
	fs := cmd.fs
	cf.register(fs)
	channel := fs.String("channel", "", "channel whose history to read (the app's history.channels must name it)")
	limit := fs.Int("limit", 0, "at most N events (default: the server's limit, 100)")
	since := fs.String("since", "", "only the events after this id (default: the newest)")
	if _, code := cmd.parse(args, 0); code >= 0 {
		return code
	}
	if *channel == "" {
		return cmd.fail("--channel is required")
	}
	if *limit < 0 {
		return cmd.fail("--limit must not be negative")
	}
	c, err := cf.client(getenv)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	res, err := c.ChannelHistoryContext(ctx, *channel, pusher.HistoryParams{Limit: *limit, Since: *since})
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	if res.Events == nil {
		res.Events = []pusher.HistoryEvent{}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return reportClientError(stderr, fs.Name(), err)
	}
	return writeJSONLine(stdout, stderr, b)
}
