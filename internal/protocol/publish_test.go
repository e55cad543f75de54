package protocol

import (
	"strings"
	"testing"
)

func TestCheckEvent(t *testing.T) {
	t.Parallel()
	l := PublishLimits{MaxEventNameLen: 20, MaxEventBytes: 2048, MaxChannels: 3, MaxChannelNameLen: 30}
	str := func(s string) *string { return &s }
	ok := str(`{"a":1}`)
	cases := []struct {
		name, event string
		data        *string
		channels    []string
		socketID    string
		field, text string // the first problem; "" = valid
		tooLarge    bool
	}{
		{"valid", "e", ok, []string{"a", "private-b"}, "1.2", "", "", false},
		{"no name", "", ok, []string{"a"}, "", FieldName, "Missing event name", false},
		{"long name", strings.Repeat("e", 21), ok, []string{"a"}, "", FieldName, "the limit is 20 bytes", false},
		{"reserved", "pusher:x", ok, []string{"a"}, "", FieldName, "reserved", false},
		{"no data", "e", nil, []string{"a"}, "", FieldData, "Missing event data", false},
		{"big data", "e", str(strings.Repeat("d", 2049)), []string{"a"}, "", FieldData, "event data is 2049 bytes, the limit is 2 KB (2048 bytes)", true},
		{"no channels", "e", ok, nil, "", FieldChannels, "name 1 to 3 channels", false},
		{"many channels", "e", ok, []string{"a", "b", "c", "d"}, "", FieldChannels, "the limit is 3 per event", false},
		{"long channel", "e", ok, []string{strings.Repeat("c", 31)}, "", FieldChannels, "use 1 to 30 letters", false},
		{"bad channel", "e", ok, []string{"a b"}, "", FieldChannels, "Invalid channel name 'a b'", false},
		{"encrypted among several", "e", ok, []string{"a", "private-encrypted-x"}, "", FieldChannels, "encrypted", false},
		{"socket id", "e", ok, []string{"a"}, "nope", FieldSocketID, "Invalid socket_id 'nope'", false},
	}
	for _, tc := range cases {
		got := l.CheckEvent(tc.event, tc.data, tc.channels, tc.socketID)
		if tc.field == "" {
			if got != nil {
				t.Errorf("%s: unexpected %v", tc.name, got)
			}
			continue
		}
		if len(got) == 0 || got[0].Field != tc.field || !strings.Contains(got[0].Message, tc.text) || got[0].TooLarge != tc.tooLarge {
			t.Errorf("%s: got %+v, want %s containing %q (too large %v)", tc.name, got, tc.field, tc.text, tc.tooLarge)
		}
	}
	// Every field's problem at once, in order.
	got := l.CheckEvent("", nil, nil, "x")
	var fields []string
	for _, p := range got {
		fields = append(fields, p.Field)
	}
	if strings.Join(fields, ",") != "name,data,channels,socket_id" {
		t.Fatalf("fields = %v", fields)
	}
	// Zero limits are the protocol's defaults.
	if p := (PublishLimits{}).CheckEvent("e", str(strings.Repeat("d", 10241)), []string{"a"}, ""); len(p) != 1 ||
		!strings.Contains(p[0].Message, "the limit is 10 KB (10240 bytes)") {
		t.Fatalf("default data limit: %v", p)
	}
}

func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	list := WebhookEvents()
	if len(list) != 7 {
		t.Fatalf("%d webhook events", len(list))
	}
	for _, e := range list {
		if !ValidWebhookEvent(e) {
			t.Errorf("%s not valid", e)
		}
	}
	list[0] = "changed"
	if WebhookEvents()[0] != WebhookChannelOccupied || ValidWebhookEvent("channel_existence") {
		t.Fatal("the list is shared or too lax")
	}
}
