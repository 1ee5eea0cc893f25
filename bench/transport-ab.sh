#!/usr/bin/env bash
# A/B of grpc-js server options on the bare ext_authz transport (bench/grpc-transport.ts):
# each option set runs REPS times, interleaved, server on core 0, ghz on core 1, c=64.
#   bash bench/transport-ab.sh '{}' '{"grpc.enable_channelz":0}'
#   bash bench/transport-ab.sh grpc-js gatehouse   (grpc.server, as Gatehouse serves: bench/grpc-transport.ts)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
reps="${REPS:-2}"
data="$(mktemp)"
trap 'rm -f "$data"' EXIT
node --import tsx -e '
const t = "eyJhbGciOiJSUzI1NiJ9." + "x".repeat(400) + ".sig";
process.stdout.write(JSON.stringify({ attributes: {
  source: { address: { socket_address: { address: "10.0.0.1", port_value: 40000 } } },
  destination: { address: { socket_address: { address: "10.0.0.2", port_value: 8080 } } },
  request: { http: { id: "ab-1", method: "GET", path: "/orders/42", host: "api.example.com",
    scheme: "https", protocol: "HTTP/1.1", headers: { ":authority": "api.example.com",
    ":method": "GET", ":path": "/orders/42", ":scheme": "https", "user-agent": "bench",
    accept: "application/json", "x-request-id": "ab-1", authorization: "Bearer " + t } } } } }));
' >"$data"
for rep in $(seq "$reps"); do
  for opts in "$@"; do
    # Port 0: the server picks a free port and prints it ("ready <port>").
    taskset -c 0 node --import tsx bench/grpc-transport.ts 0 "$opts" >"$data.out" 2>"$data.err" &
    pid=$!
    for _ in $(seq 600); do grep -q ready "$data.err" 2>/dev/null && break; sleep 0.2; done
    port="$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$data.err")"
    ghz() {
      taskset -c 1 .tools/bin/ghz --insecure --proto proto/envoy/service/auth/v3/external_auth.proto \
        --import-paths proto --call envoy.service.auth.v3.Authorization/Check --data-file "$data" \
        -c 64 -z "$1" -n 0 --connections 1 --format json "127.0.0.1:$port"
    }
    ghz 2s >/dev/null
    kill -USR2 "$pid"
    rps="$(ghz 5s | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).rps.toFixed(0)))')"
    kill -TERM "$pid"
    wait "$pid" || true
    echo "rep $rep opts $opts: $(cat "$data.out") calls/s $rps load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
