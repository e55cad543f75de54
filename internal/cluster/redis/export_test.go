package redis

// Crash stops e the way SIGKILL stops a process: no goodbye, its lease and
// state stay in Redis until the other nodes reap them.
func Crash(e *Engine) {
	e.closeOnce.Do(func() {
		close(e.stop)
		e.sub.close()
		e.wg.Wait()
		_ = e.rdb.Close()
	})
}
