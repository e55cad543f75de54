package store

import (
	"context"
	"testing"
	"time"
)

// TestSessions: a session recorded through one handle is seen, ended and
// ended-everywhere through another (another node, or the server after a
// restart), on every engine.
func TestSessions(t *testing.T) {
	run(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		a, b := open(t, Options{}), open(t, Options{})
		now := time.Now()
		s1, s2, s3 := []byte("session-one-0001"), []byte("session-two-0002"), []byte("session-old-0003")
		for _, id := range [][]byte{s1, s2} {
			if err := a.AddSession(ctx, id, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.AddSession(ctx, s3, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		active := func(st *Store, id []byte, at time.Time) bool {
			t.Helper()
			ok, err := st.SessionActive(ctx, id, at)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !active(b, s1, now) || !active(b, s3, now) || active(b, []byte("never-signed-in!"), now) {
			t.Fatal("sessions not shared between handles")
		}
		if active(b, s3, now.Add(2*time.Minute)) {
			t.Fatal("an expired session is active")
		}
		if err := b.EndSession(ctx, s1); err != nil {
			t.Fatal(err)
		}
		if active(a, s1, now) || !active(a, s2, now) {
			t.Fatal("sign-out on one handle not seen on the other, or it ended another session")
		}
		n, err := b.EndAllSessions(ctx)
		if err != nil || n != 2 { // s2 and s3 (not yet expired)
			t.Fatalf("end all: %d %v", n, err)
		}
		if active(a, s2, now) {
			t.Fatal("sign out everywhere left a session")
		}
		if err := a.AddSession(ctx, s1, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		n, err = b.PutMetaEndingSessions(ctx, "console_password_hash", "new")
		if v, _, _ := a.Meta(ctx, "console_password_hash"); err != nil || n != 1 || v != "new" || active(a, s1, now) {
			t.Fatalf("password reset: %d %v %q, session still active: %v", n, err, v, active(a, s1, now))
		}
	})
}
