#!/usr/bin/env bash
# Runs `rlboard demo` against a real rate limiter, nginx's limit_req module
# (20 requests/s, burst 5, 429 with "Retry-After: 1"), with and without a
# board, and checks that the board cuts the 429s per success by at least
# MIN_REDUCTION times. Exits 77 (skipped) when nginx is not installed.
#
# usage: nginx_demo.sh PATH_TO_RLBOARD
set -euo pipefail

rlboard=${1:?usage: nginx_demo.sh PATH_TO_RLBOARD}
nginx=${NGINX:-/usr/sbin/nginx}
workers=8
seconds=8
min_reduction=4

if [[ ! -x $nginx ]]; then
  echo "SKIP: $nginx not found (Debian package nginx-light)" >&2
  exit 77
fi
if ! command -v python3 >/dev/null; then
  echo "nginx_demo.sh: python3 not found; it reads the demo's JSON" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/rlboard-nginx.XXXXXX")
# nginx runs in the foreground ("daemon off") as a child of this script, so
# its master's pid, the one in its pid file, is $! and wait reaps it.
nginx_pid=

stop_nginx() {
  local status=$?

  if [[ -n $nginx_pid ]]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  if ((status != 0)) && [[ -s $dir/error.log ]]; then
    echo "nginx error log:" >&2
    tail -n 20 "$dir/error.log" >&2
  fi
  rm -rf "$dir"
}
trap stop_nginx EXIT
trap 'exit 143' TERM INT

# nginx runs its workers as "nobody" when started as root, so they must be
# able to read the page.
chmod 755 "$dir"
mkdir -p "$dir/html" "$dir/tmp"
echo ok >"$dir/html/index.html"
chmod 644 "$dir/html/index.html"

# Writes the configuration for a port. The page is served from a file
# because a "return 200" would respond in the rewrite phase, before limit_req
# runs in the preaccess phase. Only 429 responses carry Retry-After: the
# error page sends them to @limited, which adds the header.
write_config() {
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  limit_req_zone \$server_name zone=api:1m rate=20r/s;
  server {
    listen 127.0.0.1:$1;
    server_name rlboard-demo;
    root $dir/html;
    limit_req zone=api burst=5 nodelay;
    limit_req_status 429;
    limit_req_log_level info;
    error_page 429 = @limited;
    location / { }
    location @limited {
      add_header Retry-After 1 always;
      return 429 "rate limited\n";
    }
  }
}
EOF
}

# Returns 0 when something accepts connections on the loopback port.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts nginx on a port; returns 1 when it exited before listening.
start_nginx() {
  write_config "$1"
  "$nginx" -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" &
  nginx_pid=$!
  for _ in $(seq 50); do
    if port_open "$1"; then
      return 0
    fi
    if ! kill -0 "$nginx_pid" 2>/dev/null; then
      wait "$nginx_pid" || true
      nginx_pid=
      return 1
    fi
    sleep 0.1
  done
  echo "nginx_demo.sh: nginx did not listen on port $1 within 5 s" >&2
  exit 1
}

port=
for _ in 1 2 3 4 5; do
  candidate=$((20000 + RANDOM % 40000))
  if ! port_open "$candidate" && start_nginx "$candidate"; then
    port=$candidate
    break
  fi
done
if [[ -z $port ]]; then
  echo "nginx_demo.sh: nginx could not listen on any of 5 random ports" >&2
  exit 1
fi

json=$("$rlboard" demo --url "http://127.0.0.1:$port/" --workers "$workers" \
  --seconds "$seconds" --json)
echo "$json"

# Prints: 429s per success with and without the board, then the 429s
# without a valid Retry-After over both runs.
values=$(python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
w, wo = d["with_board"], d["without_board"]
ratio = lambda r: "nan" if r["rate_limited_per_success"] is None \
    else repr(r["rate_limited_per_success"])
print(ratio(w), ratio(wo), w["no_retry_after"] + wo["no_retry_after"])
' <<<"$json")
read -r with without no_retry_after <<<"$values"

echo "429s per success: $with with the board, $without without it"
if [[ $with == nan || $without == nan ]]; then
  echo "FAIL: a run had no successful request" >&2
  exit 1
fi
if ((no_retry_after != 0)); then
  echo "FAIL: $no_retry_after 429s came without a valid Retry-After" >&2
  exit 1
fi
if ! awk -v w="$with" -v wo="$without" 'BEGIN { exit !(wo > 0) }'; then
  echo "FAIL: the run without the board got no 429, so nginx did not" \
    "limit it" >&2
  exit 1
fi
if ! awk -v w="$with" -v wo="$without" -v m="$min_reduction" \
  'BEGIN { exit !(w * m <= wo) }'; then
  echo "FAIL: the board cut 429s per success by less than" \
    "$min_reduction times" >&2
  exit 1
fi
echo "PASS: the board cut 429s per success by at least $min_reduction times"
