package config

import "testing"

func TestSubscribeRateAndEventLoops(t *testing.T) {
	t.Parallel()
	c, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxSubscribesPS != 20 || c.Limits.SubscribeBurst != 100 || c.EventLoops != 0 {
		t.Errorf("defaults: %d/s, burst %d, %d loops; want 20/s, 100, 0", c.Limits.MaxSubscribesPS, c.Limits.SubscribeBurst, c.EventLoops)
	}
	env := map[string]string{"PIXIU_LIMITS_MAX_SUBSCRIPTIONS_PER_SECOND": "50", "PIXIU_EVENT_LOOPS": "1"}
	if c, err = Load("", func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxSubscribesPS != 50 || c.EventLoops != 1 {
		t.Errorf("env: %d/s, %d loops; want 50, 1", c.Limits.MaxSubscribesPS, c.EventLoops)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	c.EventLoops = -2
	if c.Validate() == nil {
		t.Error("event_loops -2 accepted")
	}
	env["PIXIU_EVENT_LOOPS"] = "many"
	if _, err := Load("", func(k string) string { return env[k] }); err == nil {
		t.Error("PIXIU_EVENT_LOOPS=many accepted")
	}
}
