# Sourced by the tools that load-test nginx (compare-wrk.sh, syscalls.sh, bench-overhead.sh,
# soak.sh, ...); tests/common/mod.rs writes the same configuration for the tests (without
# the status page at /nginx_status, which only the tools read).
#
#   nginx_conf DIR PORT [tls|h2c|h2]
#                         writes DIR/nginx.conf: one worker process in the foreground on
#                         127.0.0.1:PORT answering "ok\n" from memory, access log off,
#                         keep-alive connections never recycled; its files under DIR. With
#                         `tls`, PORT speaks TLS with a self-signed P-256 certificate made by
#                         openssl in DIR (clients skip verification: --insecure; wrk never
#                         verifies); with `h2c`, HTTP/2 with prior knowledge; with `h2`, HTTP/2
#                         over that TLS.

nginx_conf() {
    local dir=$1 port=$2 listen="127.0.0.1:$2"
    mkdir -p "$dir/tmp"
    case "${3:-}" in
    tls | h2)
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=localhost 2>/dev/null
        local h2=
        [ "$3" = h2 ] && h2=" http2"
        listen="$listen ssl$h2; ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem"
        ;;
    h2c) listen="$listen http2" ;;
    esac
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 1024;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    server {
        listen $listen;
        location / { return 200 "ok\n"; }
        location = /nginx_status { stub_status; }
    }
}
CONF
}

#   nginx_start DIR PORT CORE [tls|h2c|h2]
#                         writes DIR/nginx.conf (nginx_conf, with the mode as there), starts nginx
#                         pinned to CORE in
#                         the background, waits until PORT takes connections, and sets
#                         nginx_pid. The caller stops it (kill "$nginx_pid").

nginx_start() {
    local dir=$1 port=$2 core=$3
    nginx_port=$port nginx_dir=$dir
    nginx_conf "$dir" "$port" "${4:-}"
    taskset -c "$core" nginx -c "$dir/nginx.conf" -p "$dir" &
    nginx_pid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nginx did not listen on $port" >&2
    return 1
}

#   nginx_session PORT CORE [tls|h2c|h2]
#                         makes a temporary directory in $dir, starts nginx there (nginx_start)
#                         and stops nginx and removes $dir when the script exits.

nginx_session() {
    dir=$(mktemp -d)
    trap 'kill ${nginx_pid:-} 2>/dev/null; wait ${nginx_pid:-} 2>/dev/null; rm -rf "$dir"' EXIT
    nginx_start "$dir" "$@"
}

#   nginx_bench PORT CORE   what a bench against nginx begins with: nginx and python3
#                         installed if missing, OPENPACE set (openpace_binary), nginx started
#                         on CORE for the script's lifetime (nginx_session).

nginx_bench() {
    if ! command -v nginx >/dev/null || ! command -v python3 >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq nginx python3 >/dev/null
    fi
    openpace_binary
    nginx_session "$@"
}

#   nginx_cost          prints "REQUESTS CPU_TICKS": nginx's request counter (stub_status at
#                         /nginx_status, which counts itself too) and its worker's CPU time so
#                         far in clock ticks (utime + stime); two calls bracket a run, so that
#                         its difference is what the run cost the server per request.

nginx_cost() {
    local scheme=http requests worker
    [ -f "$nginx_dir/cert.pem" ] && scheme=https
    requests=$(curl -sk "$scheme://127.0.0.1:$nginx_port/nginx_status" | awk '/^ [0-9]/ {print $3}')
    worker=$(pgrep -P "$nginx_pid" | head -1)
    echo "$requests $(awk '{print $14 + $15}' "/proc/$worker/stat")"
}

#   openpace_binary       sets OPENPACE: the binary already given in it (another build, e.g. the
#                         commit before a change, measured on the same setup), or this
#                         checkout's release build, built first.

openpace_binary() {
    if [ -z "${OPENPACE:-}" ]; then
        cargo build --release --quiet
        OPENPACE=target/release/openpace
    fi
}
