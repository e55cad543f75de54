package redis

import (
	"context"
	"time"

	"github.com/pixiu-io/pixiu/internal/cluster"
)

var _ cluster.HoldMarks = (*Engine)(nil)

// MarkHeld implements cluster.HoldMarks: one SET with an expiry.
func (e *Engine) MarkHeld(ctx context.Context, key string, ttl time.Duration) error {
	if err := e.usable(); err != nil {
		return err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	if err := e.call(cctx, func() error { return e.rdb.Set(cctx, e.k.hold(key), e.node, ttl).Err() }); err != nil {
		return e.failedCtx(ctx, err)
	}
	return nil
}

// TakeHeld implements cluster.HoldMarks: one DEL, so exactly one caller
// takes a mark.
func (e *Engine) TakeHeld(ctx context.Context, key string) (bool, error) {
	if err := e.usable(); err != nil {
		return false, err
	}
	cctx, cancel := e.opCtx(ctx)
	defer cancel()
	var n int64
	err := e.call(cctx, func() (err error) { n, err = e.rdb.Del(cctx, e.k.hold(key)).Result(); return err })
	if err != nil {
		return false, e.failedCtx(ctx, err)
	}
	return n == 1, nil
}
