#!/usr/bin/env bash
# cluster-cost.sh: what a cross-node delivery costs. Starts its own Redis
# (one server, then a 3-primary Redis Cluster) and Pixiu nodes on loopback
# ports, runs pixiu-bench fanout against:
#   memory-1    one node, in-memory engine (no Redis)
#   redis-1     one node through Redis (subscribers and REST on it)
#   redis-2x    subscribers on node 1, REST publishes on node 2
#   redis-3     subscribers spread over nodes 1-3, REST on node 1
#   rcluster-3  the same three nodes on a 3-shard Redis Cluster (sharded pub/sub)
# and prints one JSON report per run, labelled. Needs bin/pixiu and
# bin/pixiu-bench (make build), redis-server and redis-cli (7.0+).
#
#   SUBS=1000 EVENTS=2000 RATE=0 cmd/pixiu-bench/cluster-cost.sh
set -euo pipefail
BIN=${BIN:-bin}
SUBS=${SUBS:-1000}
EVENTS=${EVENTS:-2000}
RATE=${RATE:-0}
BASE=${BASE:-6470} # node ports BASE..BASE+2; Redis BASE+10; cluster BASE+11..BASE+13 (bus +100)
DIR=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

redis() { # port [extra args…]; sets LAST to the pid
	local port=$1
	shift
	mkdir -p "$DIR/r$port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR/r$port" \
		--daemonize no --logfile "$DIR/r$port/log" "$@" >/dev/null 2>&1 &
	LAST=$!
	PIDS+=("$LAST")
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
	echo "redis-server on $port did not start" >&2
	exit 1
}

node() { # name port [cluster URL]; sets LAST to the pid
	local name=$1 port=$2 url=${3:-}
	PIXIU_STORE_PATH=$DIR/$name.db PIXIU_CONSOLE_ENABLED=false PIXIU_NODE_ID=$name \
		"$BIN/pixiu" serve --host 127.0.0.1 --port "$port" --demo=false ${url:+--cluster "$url"} \
		>"$DIR/$name.log" 2>&1 &
	LAST=$!
	PIDS+=("$LAST")
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return
		sleep 0.1
	done
	echo "node $name did not become ready:" >&2
	cat "$DIR/$name.log" >&2
	exit 1
}

stop() { for p in "$@"; do
	kill "$p"
	wait "$p" 2>/dev/null || true
done; }

bench() { # label, then pixiu-bench flags
	local label=$1
	shift
	printf '{"run":"%s",' "$label"
	"$BIN/pixiu-bench" fanout --subs "$SUBS" --events "$EVENTS" --rate "$RATE" --json --quiet "$@" | sed 's/^{//'
}

P1=$BASE P2=$((BASE + 1)) P3=$((BASE + 2))

node m1 "$P1"
m=$LAST
bench memory-1 --url "127.0.0.1:$P1" --server-pid "$m"
stop "$m"

R=$((BASE + 10))
redis "$R"
rp=$LAST
url=redis://127.0.0.1:$R/0
node n1 "$P1" "$url"
n1=$LAST
bench redis-1 --url "127.0.0.1:$P1" --server-pid "$n1" --redis-pid "$rp"
node n2 "$P2" "$url"
n2=$LAST
bench redis-2x --url "127.0.0.1:$P1" --rest-url "127.0.0.1:$P2" --server-pid "$n1,$n2" --redis-pid "$rp"
node n3 "$P3" "$url"
n3=$LAST
bench redis-3 --url "127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3" --rest-url "127.0.0.1:$P1" \
	--server-pid "$n1,$n2,$n3" --redis-pid "$rp"
stop "$n1" "$n2" "$n3" "$rp"

cps=() hosts=()
for i in 1 2 3; do
	port=$((BASE + 10 + i))
	redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port $((port + 100))
	cps+=("$LAST")
	hosts+=("127.0.0.1:$port")
done
redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 200); do
	ok=0
	for h in "${hosts[@]}"; do redis-cli -p "${h#*:}" cluster info | grep -q 'cluster_state:ok' && ok=$((ok + 1)); done
	[ "$ok" = 3 ] && break
	sleep 0.1
done
cl_url=redis+cluster://$(
	IFS=,
	echo "${hosts[*]}"
)
node c1 "$P1" "$cl_url"
n1=$LAST
node c2 "$P2" "$cl_url"
n2=$LAST
node c3 "$P3" "$cl_url"
n3=$LAST
bench rcluster-3 --url "127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3" --rest-url "127.0.0.1:$P1" \
	--server-pid "$n1,$n2,$n3" --redis-pid "$(
		IFS=,
		echo "${cps[*]}"
	)"
