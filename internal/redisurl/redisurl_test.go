package redisurl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Options
	}{
		{"redis://127.0.0.1:6379/0", Options{Mode: Single, Network: "tcp", Addrs: []string{"127.0.0.1:6379"}}},
		{"redis://localhost", Options{Mode: Single, Network: "tcp", Addrs: []string{"localhost:6379"}}},
		{"redis://:p%40ss@10.0.0.5:6380/3", Options{Mode: Single, Network: "tcp", Addrs: []string{"10.0.0.5:6380"}, Password: "p@ss", DB: 3}},
		{"rediss://app:s3cret@[::1]:6379/", Options{Mode: Single, Network: "tcp", Addrs: []string{"[::1]:6379"}, Username: "app", Password: "s3cret", TLS: true}},
		{"unix:///run/redis.sock", Options{Mode: Single, Network: "unix", Addrs: []string{"/run/redis.sock"}}},
		{"unix://:pw@/run/redis.sock?db=2", Options{Mode: Single, Network: "unix", Addrs: []string{"/run/redis.sock"}, Password: "pw", DB: 2}},
		{"redis+sentinel://s1:26379,s2:26379,10.0.0.3:26379/mymaster",
			Options{Mode: Sentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26379", "10.0.0.3:26379"}, MasterName: "mymaster"}},
		{"redis+sentinel://:pw@s1:26379/mymaster/4",
			Options{Mode: Sentinel, Network: "tcp", Addrs: []string{"s1:26379"}, MasterName: "mymaster", Password: "pw", DB: 4}},
		{"rediss+sentinel://s1:26379/my%2Fmaster/",
			Options{Mode: Sentinel, Network: "tcp", Addrs: []string{"s1:26379"}, MasterName: "my/master", TLS: true}},
		{"redis+cluster://:pw@n1:7000,n2:7001",
			Options{Mode: Cluster, Network: "tcp", Addrs: []string{"n1:7000", "n2:7001"}, Password: "pw"}},
		{"rediss+cluster://n1:7000/", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"n1:7000"}, TLS: true}},
		{"REDIS+CLUSTER://n1:7000", Options{Mode: Cluster, Network: "tcp", Addrs: []string{"n1:7000"}}},
	}
	for _, tc := range cases {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, why string }{
		{"localhost:6379", "no scheme"},
		{"http://localhost:6379", "unknown scheme"},
		{"redis://h1:6379,h2:6379", "host list needs"},
		{"redis://h1:6379/zero", "database must be a number"},
		{"redis://h1:6379/0/1", "unexpected path"},
		{"redis://h1:6379/0?dial_timeout=3", "query parameters"},
		{"redis://h1:99999", "port must be"},
		{"redis://", "no host:port"},
		{"redis+sentinel://s1:26379", "master name"},
		{"redis+sentinel://s1:26379/", "master name"},
		{"redis+sentinel://s1,s2:26379/m", "not host:port"},
		{"redis+sentinel://s1:26379/m/x", "database must be a number"},
		{"redis+sentinel://s1:26379/m/1/2", "unexpected path"},
		{"redis+cluster://n1:7000/0", "takes no path"},
		{"redis+cluster://n1:7000,,n2:7000", "not host:port"},
		{"unix://host/x.sock", "socket path"},
		{"unix:///x.sock?timeout=1", "only ?db"},
		{"redis://h:1#frag", "fragment"},
		{"redis+sentinel://s1:26379/my%20master", "spaces"},
		{"redis+sentinel://s1:26379" + strings.Repeat(",s:1", MaxAddrs) + "/m", "more than"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.in)
		if err == nil || !errors.Is(err, ErrForm) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("Parse(%q) = %v, want an ErrForm saying %q", tc.in, err, tc.why)
			continue
		}
		if !strings.Contains(err.Error(), "redis+sentinel://[:password@]host:port[,host:port…]/master-name[/db]") {
			t.Errorf("Parse(%q): the error does not list the forms: %v", tc.in, err)
		}
	}
}

// A password never appears in an error or in String.
func TestPasswordsStayHidden(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"redis://:hunter2@h1:6379,h2:6379", "redis+sentinel://:hunter2@s1/m", "redis+cluster://u:hunter2@n1:7000/3"} {
		if _, err := Parse(in); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q): %v", in, err)
		}
		if r := Redacted(in); strings.Contains(r, "hunter2") {
			t.Errorf("Redacted(%q) = %q", in, r)
		}
	}
	o, err := Parse("rediss+sentinel://app:hunter2@s1:26379,s2:26379/mymaster/2")
	if err != nil {
		t.Fatal(err)
	}
	o.SentinelPassword = "hunter3"
	if s := o.String(); s != "rediss+sentinel://app:xxxxx@s1:26379,s2:26379/mymaster/2" {
		t.Fatalf("String() = %q", s)
	}
	if r := Redacted("localhost:hunter2@x"); strings.Contains(r, "hunter2") {
		t.Fatalf("Redacted = %q", r)
	}
}

// String reads back as the same Options (passwords aside).
func TestStringRoundTrips(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"redis://h:6379", "rediss://u@h:6380/2", "unix:///run/r.sock?db=3",
		"redis+sentinel://s1:26379,[::1]:26380/mymaster/1", "rediss+cluster://n1:7000,n2:7001"} {
		o, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(o.String())
		if err != nil || !reflect.DeepEqual(back, o) {
			t.Errorf("%q → %q → %+v, %v", in, o.String(), back, err)
		}
	}
}

func TestValidateLongForm(t *testing.T) {
	t.Parallel()
	good := []Options{
		{Mode: Sentinel, Addrs: []string{"s1:26379"}, MasterName: "m", SentinelPassword: "x"},
		{Mode: Cluster, Addrs: []string{"n1:7000", "n2:7000"}, TLS: true},
	}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := map[string]Options{
		"no address":            {Mode: Sentinel, MasterName: "m"},
		"needs the master name": {Mode: Sentinel, Addrs: []string{"s1:26379"}},
		"not host:port":         {Mode: Cluster, Addrs: []string{"n1"}},
		"only database 0":       {Mode: Cluster, Addrs: []string{"n1:7000"}, DB: 1},
		"for sentinel only":     {Mode: Cluster, Addrs: []string{"n1:7000"}, MasterName: "m"},
		"unknown mode":          {Addrs: []string{"n1:7000"}},
	}
	for why, o := range bad {
		if err := o.Validate(); err == nil || !errors.Is(err, ErrForm) || !strings.Contains(err.Error(), why) {
			t.Errorf("%+v: %v, want %q", o, err, why)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"redis://h:6379/0", "redis+sentinel://:p@s1:26379,s2:26379/m/1", "unix:///x?db=1",
		"rediss+cluster://n1:7000", "redis://[::1]:6379"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil {
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Parse(%q) gave options Validate refuses: %v", s, err)
		}
		back, err := Parse(o.String())
		if err != nil {
			t.Fatalf("String() of Parse(%q) = %q does not parse: %v", s, o.String(), err)
		}
		back.Password, o.Password = "", ""
		if !reflect.DeepEqual(back, o) {
			t.Fatalf("%q → %q → %+v, want %+v", s, o.String(), back, o)
		}
	})
}
