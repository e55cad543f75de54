package redis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// slowProxy forwards TCP connections to Redis; while delay is set, every
// client chunk that contains marker (and is not a pub/sub command) waits
// that long before it is forwarded: a Redis that is slow for one channel.
type slowProxy struct {
	ln     net.Listener
	target string
	marker []byte
	delay  atomic.Int64 // nanoseconds; 0: forward at once
	slowed atomic.Int64 // chunks delayed so far
	mu     sync.Mutex
	conns  []net.Conn
}

func startSlowProxy(t *testing.T, target, marker string) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{ln: ln, target: target, marker: []byte(marker)}
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *slowProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		r, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, r)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, r); _ = c.Close() }()
		go p.forward(c, r)
	}
}

func (p *slowProxy) forward(c, r net.Conn) {
	defer r.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if d := p.delay.Load(); d > 0 && bytes.Contains(chunk, p.marker) &&
				!bytes.Contains(bytes.ToLower(chunk), []byte("subscribe")) {
				p.slowed.Add(1)
				time.Sleep(time.Duration(d))
			}
			if _, err := r.Write(chunk); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestSlowRedisDoesNotFreezeTheLoop (issue 10 §4): with the Redis engine and
// one event loop, a presence subscribe whose Redis calls take seconds must
// not hold up the other sockets of that loop (events and pongs keep coming
// promptly), and the stuck socket's own later messages are handled after
// it, in order.
func TestSlowRedisDoesNotFreezeTheLoop(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	ropts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	const slowChannel = "presence-slowroom"
	proxy := startSlowProxy(t, ropts.Addr, slowChannel)
	prefix := testPrefix(t, url)
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://" + proxy.ln.Addr().String() + "/" + strconv.Itoa(ropts.DB)
		c.Cluster.KeyPrefix = prefix
		c.EventLoops = 1 // every socket shares the stuck one's loop
	})
	waitReady(t, s)

	const bystanders = 3
	var others []*pixiutest.Client
	for range bystanders {
		c := pixiutest.Dial(t, s.Addr, s.App.Key)
		c.Subscribe("news", "", "", "")
		others = append(others, c)
	}
	stuck := pixiutest.Dial(t, s.Addr, s.App.Key)
	rest := s.REST()

	// Each Redis call of the presence subscribe now takes 700 ms (below the
	// engine's 2 s call timeout): MemberCount, AddMember, Members and
	// AddSubscriptions make it 2.8 s or more.
	const perCall = 700 * time.Millisecond
	proxy.delay.Store(int64(perCall))
	data := `{"user_id":"u1"}`
	start := time.Now()
	stuck.Send("pusher:subscribe", "", map[string]any{"channel": slowChannel,
		"auth": signature.ChannelAuth(s.App.Key, s.App.Secret, stuck.SocketID, slowChannel, data), "channel_data": data})
	stuck.Send("pusher:subscribe", "", map[string]any{"channel": "after-slow"})
	stuck.Send("pusher:ping", "", map[string]any{})
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if proxy.slowed.Load() == 0 {
			return errors.New("the presence subscribe has not reached Redis yet")
		}
		return nil
	})

	// While the subscribe is stuck: every 100 ms each bystander pings and an
	// event is published; each must be answered well within the stall.
	worst, rounds := bystanderRounds(t, others, rest, start, 2*time.Second)
	// The stuck socket: its messages in order once Redis answered.
	var got []string
	for len(got) < 3 {
		e := stuck.Next() // fails the test after 5 s of silence
		switch e.Event {
		case "pusher_internal:subscription_succeeded", "pusher:pong":
			got = append(got, e.Event+" "+e.Channel)
		case "pusher:error", "pusher:subscription_error":
			t.Fatalf("stuck socket: %s %s", e.Event, e.Data)
		}
	}
	want := []string{"pusher_internal:subscription_succeeded " + slowChannel,
		"pusher_internal:subscription_succeeded after-slow", "pusher:pong "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stuck socket got %q, want %q", got, want)
	}
	if took := time.Since(start); took < 2*perCall {
		t.Fatalf("the presence subscribe took only %s: Redis was not slowed", took)
	}
	t.Logf("%d rounds; worst bystander wait %s while the stuck subscribe took about %s", rounds, worst, time.Since(start).Round(time.Millisecond))

	// The stuck socket really is a member, and sockets still work normally.
	proxy.delay.Store(0)
	st, body := rest.Do(t, "GET", "/apps/"+s.App.ID+"/channels/"+slowChannel+"/users", "", nil)
	var users struct {
		Users []struct {
			ID string `json:"id"`
		} `json:"users"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &users) != nil || len(users.Users) != 1 || users.Users[0].ID != "u1" {
		t.Fatalf("users of %s: %d %s", slowChannel, st, body)
	}
}

// TestWaitingMessagesAreBounded: the messages a socket sends while its
// engine call is in flight wait in a bounded queue; past it the socket is
// closed with 4100 (pusher:error first), and the others carry on.
func TestWaitingMessagesAreBounded(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	ropts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	const slowChannel = "presence-slowroom"
	proxy := startSlowProxy(t, ropts.Addr, slowChannel)
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://" + proxy.ln.Addr().String() + "/" + strconv.Itoa(ropts.DB)
		c.Cluster.KeyPrefix = testPrefix(t, url)
		c.EventLoops = 1
	})
	waitReady(t, s)
	other := pixiutest.Dial(t, s.Addr, s.App.Key)
	stuck := pixiutest.Dial(t, s.Addr, s.App.Key)
	proxy.delay.Store(int64(700 * time.Millisecond))
	data := `{"user_id":"u1"}`
	stuck.Send("pusher:subscribe", "", map[string]any{"channel": slowChannel,
		"auth": signature.ChannelAuth(s.App.Key, s.App.Secret, stuck.SocketID, slowChannel, data), "channel_data": data})
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if proxy.slowed.Load() == 0 {
			return errors.New("the presence subscribe has not reached Redis yet")
		}
		return nil
	})
	for range 1001 { // one more than the 1,000 messages that may wait
		stuck.Send("pusher:ping", "", map[string]any{})
	}
	e := stuck.Expect("pusher:error")
	if !bytes.Contains(e.Data, []byte(`"code":4100`)) {
		t.Fatalf("pusher:error %s, want code 4100", e.Data)
	}
	if code := stuck.WaitClosed(); code != 4100 {
		t.Fatalf("close code %d, want 4100", code)
	}
	other.Send("pusher:ping", "", map[string]any{})
	other.Expect("pusher:pong")
}

// bystanderRounds has every bystander ping and an event published to
// "news" every 100 ms until since+d, and fails unless each bystander got
// both well within the stall (a functional check with a wide margin).
func bystanderRounds(t *testing.T, others []*pixiutest.Client, rest *pixiutest.REST, since time.Time, d time.Duration) (worst time.Duration, rounds int) {
	t.Helper()
	const margin = 500 * time.Millisecond
	for time.Since(since) < d {
		t0 := time.Now()
		for _, c := range others {
			c.Send("pusher:ping", "", map[string]any{})
		}
		rest.Trigger(t, []string{"news"}, "tick", strconv.Itoa(rounds))
		for i, c := range others {
			pong, tick := false, false
			for !pong || !tick { // in either order: each took its own path
				switch e := c.Next(); e.Event {
				case "pusher:pong":
					pong = true
				case "tick":
					if e.DataString() != strconv.Itoa(rounds) {
						t.Fatalf("bystander %d: tick %s, want %d", i, e.DataString(), rounds)
					}
					tick = true
				}
			}
		}
		worst = max(worst, time.Since(t0))
		rounds++
		time.Sleep(100 * time.Millisecond)
	}
	if worst > margin {
		t.Fatalf("while one socket waited on Redis, the other sockets of its loop waited up to %s for a pong or an event (want < %s)", worst, margin)
	}
	return worst, rounds
}

// TestSlowRedisSignInDoesNotFreezeTheLoop: a sign-in whose watchlist look-up
// and online record wait on a slow Redis holds up no other socket of the
// loop, looks the 100 watched ids up in one round trip, and the signed-in
// socket's later messages follow in order.
func TestSlowRedisSignInDoesNotFreezeTheLoop(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	ropts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startSlowProxy(t, ropts.Addr, "slowuser")
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = "redis://" + proxy.ln.Addr().String() + "/" + strconv.Itoa(ropts.DB)
		c.Cluster.KeyPrefix = testPrefix(t, url)
		c.EventLoops = 1
	})
	waitReady(t, s)
	signIn := func(c *pixiutest.Client, ud string) {
		c.Send("pusher:signin", "", map[string]any{"auth": signature.UserAuth(s.App.Key, s.App.Secret, c.SocketID, ud), "user_data": ud})
	}
	var others []*pixiutest.Client
	for i := range 3 {
		c := pixiutest.Dial(t, s.Addr, s.App.Key)
		if i == 0 { // one watched user is online
			signIn(c, `{"id":"slowuser7"}`)
			c.Expect("pusher:signin_success")
		}
		c.Subscribe("news", "", "", "")
		others = append(others, c)
	}
	stuck := pixiutest.Dial(t, s.Addr, s.App.Key)
	rest := s.REST()
	watch := make([]string, 100)
	for i := range watch {
		watch[i] = `"slowuser` + strconv.Itoa(i) + `"`
	}
	proxy.delay.Store(int64(700 * time.Millisecond))
	start := time.Now()
	signIn(stuck, `{"id":"slowuser-me","watchlist":[`+strings.Join(watch, ",")+`]}`)
	stuck.Send("pusher:subscribe", "", map[string]any{"channel": "after-signin"})
	stuck.Send("pusher:ping", "", map[string]any{})
	pixiutest.WaitFor(t, 5*time.Second, func() error {
		if proxy.slowed.Load() == 0 {
			return errors.New("the watchlist look-up has not reached Redis yet")
		}
		return nil
	})
	worst, rounds := bystanderRounds(t, others, rest, start, 1200*time.Millisecond)

	var got []string
	for len(got) < 4 {
		e := stuck.Next() // fails the test after 5 s of silence
		switch e.Event {
		case "pusher:signin_success", "pusher_internal:subscription_succeeded", "pusher:pong":
			got = append(got, e.Event+" "+e.Channel)
		case "pusher_internal:watchlist_events":
			got = append(got, e.Event+" "+e.DataString())
		case "pusher:error", "pusher:subscription_error":
			t.Fatalf("signed-in socket: %s %s", e.Event, e.Data)
		}
	}
	want := []string{"pusher:signin_success ",
		`pusher_internal:watchlist_events {"events":[{"name":"online","user_ids":["slowuser7"]}]}`,
		"pusher_internal:subscription_succeeded after-signin", "pusher:pong "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("signed-in socket got %q, want %q", got, want)
	}
	if n := proxy.slowed.Load(); n > 5 {
		t.Fatalf("%d slowed Redis round trips for one sign-in: the watchlist is not looked up in one", n)
	}
	t.Logf("%d rounds; worst bystander wait %s; sign-in done after %s", rounds, worst, time.Since(start).Round(time.Millisecond))
}

// waitReady waits until the server answers /ready (Redis reached).
func waitReady(t *testing.T, s *pixiutest.Server) {
	t.Helper()
	pixiutest.WaitFor(t, 20*time.Second, func() error {
		resp, err := http.Get("http://" + s.Addr + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/ready: %d", resp.StatusCode)
		}
		return nil
	})
}

// TestSigninOffLoopAuthorizesAndAnswersAfterRecording: with the Redis engine
// a sign-in runs on a worker; signin_success follows the recorded sign-in
// (the watched ids online come after it), and the connection counts as
// authorized for an app with user_auth, so it outlives user_auth_timeout
// while one that never signs in is closed with 4009.
func TestSigninOffLoopAuthorizesAndAnswersAfterRecording(t *testing.T) {
	t.Parallel()
	url := testURL()
	requireRedis(t, url)
	s := pixiutest.Start(t, func(c *config.Config) {
		c.Cluster.Redis = url
		c.Cluster.KeyPrefix = testPrefix(t, url)
		c.Apps[0].UserAuth = true
		c.UserAuthTimeout = config.Duration(time.Second)
	})
	waitReady(t, s)

	star := pixiutest.Dial(t, s.Addr, s.App.Key)
	signin(t, star, "star")
	idle := pixiutest.Dial(t, s.Addr, s.App.Key)

	w := pixiutest.Dial(t, s.Addr, s.App.Key)
	ud := `{"id":"watcher","watchlist":["star"]}`
	w.Send("pusher:signin", "", map[string]any{"user_data": ud,
		"auth": signature.UserAuth("app-key", "app-secret", w.SocketID, ud)})
	w.Expect("pusher:signin_success")
	if e := w.Expect("pusher_internal:watchlist_events"); !strings.Contains(e.DataString(), `"name":"online","user_ids":["star"]`) {
		t.Fatalf("initial status %s", e.DataString())
	}

	if code := idle.WaitClosed(); code != 4009 {
		t.Fatalf("a connection that never signed in closed with %d, want 4009", code)
	}
	// Both signed-in sockets are still served well past the timeout.
	time.Sleep(1500 * time.Millisecond)
	for _, c := range []*pixiutest.Client{star, w} {
		c.Send("pusher:ping", "", map[string]any{})
		c.Expect("pusher:pong")
	}
}
