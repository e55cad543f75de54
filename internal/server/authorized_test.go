package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/config"
	"github.com/pixiu-io/pixiu/internal/pixiutest"
	"github.com/pixiu-io/pixiu/internal/signature"
)

// TestAuthorizedConnections: with user_auth on, a connection that neither
// signs in nor subscribes to a private or presence channel within
// user_auth_timeout is closed with 4009; one that did stays, and so does
// every connection of an app without user_auth.
func TestAuthorizedConnections(t *testing.T) {
	t.Parallel()
	s := pixiutest.Start(t, func(c *config.Config) {
		c.UserAuthTimeout = config.Duration(time.Second)
		c.Apps = append(c.Apps, pixiutest.App("strict", "strict-key", "strict-secret", func(s *apps.Settings) { s.UserAuth = true }))
	})
	signedIn := pixiutest.Dial(t, s.Addr, "strict-key")
	ud := `{"id":"u1"}`
	signedIn.Send("pusher:signin", "", map[string]any{
		"auth": signature.UserAuth("strict-key", "strict-secret", signedIn.SocketID, ud), "user_data": ud})
	signedIn.Expect("pusher:signin_success")
	private := pixiutest.Dial(t, s.Addr, "strict-key")
	private.Subscribe("private-orders", "strict-key", "strict-secret", "")
	public := pixiutest.Dial(t, s.Addr, "strict-key")
	public.Subscribe("news", "", "", "")         // a public channel does not authorize
	free := pixiutest.Dial(t, s.Addr, "app-key") // no user_auth

	e := public.Expect("pusher:error")
	var d struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Code != 4009 {
		t.Fatalf("pusher:error %s, want code 4009", e.Data)
	}
	if code := public.WaitClosed(); code != 4009 {
		t.Fatalf("unauthorized connection closed with %d, want 4009", code)
	}
	// The others' deadlines have passed too: they are still served.
	for name, c := range map[string]*pixiutest.Client{"signed in": signedIn, "private": private, "no user_auth": free} {
		c.Send("pusher:ping", "", map[string]any{})
		if e := c.Expect("pusher:pong"); e.Event != "pusher:pong" {
			t.Fatalf("%s connection: no pong", name)
		}
	}
}
