package config

import "testing"

func TestMaxOutboundBytes(t *testing.T) {
	t.Parallel()
	c, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if c.Limits.MaxOutboundBytes != 192<<20 {
		t.Errorf("default max_outbound_bytes = %d, want 192 MiB", c.Limits.MaxOutboundBytes)
	}
	env := map[string]string{"PIXIU_MAX_OUTBOUND_BYTES": "1048576"}
	if c, err = Load("", func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxOutboundBytes != 1<<20 {
		t.Errorf("PIXIU_MAX_OUTBOUND_BYTES: got %d", c.Limits.MaxOutboundBytes)
	}
	env["PIXIU_MAX_OUTBOUND_BYTES"] = "lots"
	if _, err := Load("", func(k string) string { return env[k] }); err == nil {
		t.Error("PIXIU_MAX_OUTBOUND_BYTES=lots accepted")
	}
}
