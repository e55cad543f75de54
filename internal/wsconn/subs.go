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
