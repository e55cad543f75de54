package redis

// Crash stops e the way SIGKILL stops a process: no goodbye, its lease and
// state stay in Redis until the other nodes reap them.
func Crash(e *Engine) {
	e.closeOnce.Do(func() {
		close(e.stop)
		e.wg.Wait() // the health loop may be connecting the pub/sub
		e.sub.close()
		_ = e.rdb.Close()
	})
}
