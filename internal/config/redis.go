package config

import (
	"strings"

	"github.com/pixiu-io/pixiu/internal/redisurl"
)

// RedisOptions returns the Redis the cluster engine uses, from the URL of
// cluster.redis or the long form (cluster.sentinel.*, cluster.redis_cluster.*,
// cluster.username/password/db/tls); ok is false for the in-memory engine.
// The error names the offending key (an Errors); Validate reports the same.
func (c Cluster) RedisOptions() (o redisurl.Options, ok bool, err error) {
	var v validator
	o, ok = c.redisOptions(&v)
	if len(v.errs) > 0 {
		return redisurl.Options{}, false, v.errs
	}
	return o, ok, nil
}

// The keys of the forms, for messages.
const (
	keyRedis    = "cluster.redis"
	keySentinel = "cluster.sentinel.addrs"
	keyCluster  = "cluster.redis_cluster.addrs"
)

func (c Cluster) redisOptions(v *validator) (redisurl.Options, bool) {
	set := setKeys([]keyOn{{keyRedis, c.Redis != ""}, {keySentinel, len(c.Sentinel.Addrs) > 0},
		{keyCluster, len(c.RedisCluster.Addrs) > 0}})
	switch {
	case len(set) > 1:
		for _, key := range set {
			v.fail(key, "set only one of %s, %s and %s", keyRedis, keySentinel, keyCluster)
		}
		return redisurl.Options{}, false
	case len(set) == 0:
		c.onlyWithRedis(v)
		return redisurl.Options{}, false
	case c.Redis != "":
		return c.fromURL(v)
	}
	o := redisurl.Options{Mode: redisurl.Cluster, Network: "tcp", Addrs: c.RedisCluster.Addrs,
		Username: c.Username, Password: c.Password, DB: c.DB, TLS: c.TLS}
	key := keyCluster
	if len(c.Sentinel.Addrs) > 0 {
		o.Mode, key = redisurl.Sentinel, keySentinel
		o.Addrs, o.MasterName, o.SentinelPassword = c.Sentinel.Addrs, c.Sentinel.Master, c.Sentinel.Password
		if c.Sentinel.Master == "" {
			v.fail("cluster.sentinel.master", "is required with %s: the name the Sentinels monitor the primary under", keySentinel)
			return redisurl.Options{}, false
		}
	} else {
		c.notSentinel(v, "with "+keyCluster)
	}
	if c.DB != 0 && o.Mode == redisurl.Cluster {
		v.fail("cluster.db", "a Redis Cluster has only database 0")
	}
	if err := o.Validate(); err != nil {
		v.fail(key, "%s", trimForm(err))
		return redisurl.Options{}, false
	}
	return o, len(v.errs) == 0
}

// fromURL reads cluster.redis; username and password may fill in what the
// URL leaves out.
func (c Cluster) fromURL(v *validator) (redisurl.Options, bool) {
	o, err := redisurl.Parse(c.Redis)
	if err != nil {
		v.fail(keyRedis, "want a Redis URL, not %q: %s", redisurl.Redacted(c.Redis), trimForm(err))
		return o, false
	}
	fill := func(key, val string, dst *string) {
		switch {
		case val == "":
		case *dst != "":
			v.fail(key, "the URL of %s has one already", keyRedis)
		default:
			*dst = val
		}
	}
	fill("cluster.username", c.Username, &o.Username)
	fill("cluster.password", c.Password, &o.Password)
	if c.DB != 0 {
		v.fail("cluster.db", "with %s the database is in the URL's path", keyRedis)
	}
	if c.TLS {
		v.fail("cluster.tls", "with %s say TLS with its scheme (rediss://, rediss+sentinel://, rediss+cluster://)", keyRedis)
	}
	if c.Sentinel.Master != "" {
		v.fail("cluster.sentinel.master", "with %s the master name is in the URL (redis+sentinel://host:port/master-name)", keyRedis)
	}
	if o.Mode == redisurl.Sentinel {
		o.SentinelPassword = c.Sentinel.Password
	} else if c.Sentinel.Password != "" {
		v.fail("cluster.sentinel.password", "is for Sentinel (redis+sentinel://)")
	}
	return o, len(v.errs) == 0
}

func (c Cluster) notSentinel(v *validator, why string) {
	if c.Sentinel.Master != "" {
		v.fail("cluster.sentinel.master", "is for Sentinel, not %s", why)
	}
	if c.Sentinel.Password != "" {
		v.fail("cluster.sentinel.password", "is for Sentinel, not %s", why)
	}
}

// onlyWithRedis refuses the long form's details when no Redis is named.
func (c Cluster) onlyWithRedis(v *validator) {
	for _, key := range setKeys([]keyOn{{"cluster.sentinel.master", c.Sentinel.Master != ""},
		{"cluster.sentinel.password", c.Sentinel.Password != ""}, {"cluster.username", c.Username != ""},
		{"cluster.password", c.Password != ""}, {"cluster.db", c.DB != 0}, {"cluster.tls", c.TLS}}) {
		v.fail(key, "needs a Redis: set %s, %s or %s", keyRedis, keySentinel, keyCluster)
	}
}

type keyOn struct {
	key string
	on  bool
}

// setKeys are the keys of list that are set, in order.
func setKeys(list []keyOn) []string {
	var out []string
	for _, k := range list {
		if k.on {
			out = append(out, k.key)
		}
	}
	return out
}

// trimForm is err's message without the package prefix.
func trimForm(err error) string {
	return strings.TrimPrefix(err.Error(), redisurl.ErrForm.Error()+": ")
}
