#!/usr/bin/env bash
# CPU per call of bare HTTP/2 servers (bench/h2-bare.ts: gatehouse = src/transport/h2,
# node = node:http2), all running at once on core 0 and loaded in turn by ghz from core 1 in
# short slices (A, B, A, B, ...), as bench/transport-ab-sliced.sh does for the gRPC
# transports: a change in the machine's load hits both alike. CPU per call is the
# utime+stime delta of each server (/proc/<pid>/stat) over its slice divided by the calls
# ghz completed in it.
#   SLICES=10 SLICE=3s CONC=64 bash bench/h2-bare-sliced.sh gatehouse node
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
slices="${SLICES:-10}"
slice="${SLICE:-2s}"
conc="${CONC:-64}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    # A server that died during the run says why.
    kill -0 "$pid" 2>/dev/null || tail -n 20 "$work"/*.err >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${DATA_FILE:-}" ]; then cp "$DATA_FILE" "$work/data.json"; else
node --import tsx -e '
const t = "eyJhbGciOiJSUzI1NiJ9." + "x".repeat(400) + ".sig";
process.stdout.write(JSON.stringify({ attributes: {
  source: { address: { socket_address: { address: "10.0.0.1", port_value: 40000 } } },
  destination: { address: { socket_address: { address: "10.0.0.2", port_value: 8080 } } },
  request: { http: { id: "ab-1", method: "GET", path: "/orders/42", host: "api.example.com",
    scheme: "https", protocol: "HTTP/1.1", headers: { ":authority": "api.example.com",
    ":method": "GET", ":path": "/orders/42", ":scheme": "https", "user-agent": "bench",
    accept: "application/json", "x-request-id": "ab-1", authorization: "Bearer " + t } } } } }));
' >"$work/data.json"
fi
ports=()
labels=("$@")
i=0
for opts in "$@"; do
  port=$((19591 + i))
  ports+=("$port")
  taskset -c 0 node --import tsx bench/h2-bare.ts "$port" "$opts" >"$work/$i.out" 2>"$work/$i.err" &
  pids+=("$!")
  i=$((i + 1))
done
for i in "${!pids[@]}"; do
  for _ in $(seq 600); do grep -q ready "$work/$i.err" 2>/dev/null && break; sleep 0.2; done
done
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
ghz() {
  taskset -c 1 .tools/bin/ghz --insecure --proto proto/envoy/service/auth/v3/external_auth.proto \
    --import-paths proto --call envoy.service.auth.v3.Authorization/Check \
    --data-file "$work/data.json" -c "$conc" -z "$2" -n 0 --connections 1 --format json \
    "127.0.0.1:$1"
}
for i in "${!pids[@]}"; do ghz "${ports[$i]}" 2s >/dev/null; done
for s in $(seq "$slices"); do
  line="slice $s"
  for i in "${!pids[@]}"; do
    before="$(ticks "${pids[$i]}")"
    ok="$(ghz "${ports[$i]}" "$slice" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.statusCodeDistribution?.OK ?? 0)})')"
    after="$(ticks "${pids[$i]}")"
    us="$(node -e "console.log(((($after - $before) / $hz) * 1e6 / Math.max(1, $ok)).toFixed(1))")"
    line="$line | ${labels[$i]}: ${ok} ok, ${us} us/call"
  done
  echo "$line load $(cut -d' ' -f1 /proc/loadavg)"
done
