package wsconn

// subscription is one channel a connection is subscribed to.
type subscription struct {
	channel string
	userID  string // presence member id; "" for other kinds
}

// subscriptions is a connection's channel set. Most connections hold a few
// channels, so a slice costs far less memory per idle connection than a map;
// lookups are linear. Loop-owned.
type subscriptions []subscription

func (s subscriptions) get(channel string) (userID string, ok bool) {
	for i := range s {
		if s[i].channel == channel {
			return s[i].userID, true
		}
	}
	return "", false
}

func (s *subscriptions) add(channel, userID string) {
	if *s == nil {
		*s = make(subscriptions, 0, 1)
	}
	*s = append(*s, subscription{channel, userID})
}

func (s *subscriptions) remove(channel string) (userID string, ok bool) {
	l := *s
	for i := range l {
		if l[i].channel == channel {
			userID = l[i].userID
			l[i] = l[len(l)-1]
			l[len(l)-1] = subscription{}
			*s = l[:len(l)-1]
			return userID, true
		}
	}
	return "", false
}

// subLimiter is a connection's subscribe/unsubscribe budget: a token bucket
// of burst tokens refilled at rate per second. A subscribe takes a token or
// is refused; an unsubscribe takes one when there is one but is always
// honoured (refusing it would leave the client receiving events it asked to
// stop). Refused subscribes add debt, which the rate pays back; a connection
// whose debt exceeds the burst keeps going past the limit and is closed.
// The zero value is a full bucket. Loop-owned.
type subLimiter struct {
	at     int64   // unix nanos of the last refill; 0: never used
	tokens float32 // available requests
	debt   float32 // refused requests not yet paid back
}

// refill adds what the rate earned since the last call.
func (l *subLimiter) refill(now int64, rate, burst float32) {
	if l.at == 0 {
		l.at, l.tokens = now, burst
		return
	}
	earned := float32(float64(now-l.at) / 1e9 * float64(rate))
	l.at = now
	if earned <= 0 {
		return
	}
	l.tokens = min(burst, l.tokens+earned)
	l.debt = max(0, l.debt-earned)
}

// subscribe spends a token: ok is false when the subscribe must be refused,
// and abuse true when the connection must be closed.
func (l *subLimiter) subscribe(now int64, rate, burst float32) (ok, abuse bool) {
	l.refill(now, rate, burst)
	if l.tokens >= 1 {
		l.tokens--
		return true, false
	}
	l.debt++
	return false, l.debt > burst
}

// unsubscribe spends a token if there is one.
func (l *subLimiter) unsubscribe(now int64, rate, burst float32) {
	l.refill(now, rate, burst)
	if l.tokens >= 1 {
		l.tokens--
	}
}
