# Gatehouse container image, in three stages:
#   opa      builds the pinned opa CLI. Gatehouse runs `opa build -t wasm` whenever it builds
#            a policy snapshot (at start-up and on every policy change), so it needs opa at
#            run time, not only at build time.
#   build    compiles the TypeScript, then drops the dev dependencies.
#   runtime  node, dist/, production node_modules and the files Gatehouse reads at run time,
#            as the unprivileged "node" user, by number (1000:1000), so Kubernetes'
#            runAsNonRoot can verify it.
#
#   docker build -t gatehouse .
#   docker run --rm -p 9191:9191 -p 9192:9192 -p 9193:9193 gatehouse

ARG OPA_VERSION=v1.22.2
# Node 24 is the current LTS (Node 20 reached end of life in April 2026). Gatehouse itself
# still runs on Node 20.19+ (package.json engines, CI).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- opa -------------------------------------------------------------------------------
FROM golang:1.26-bookworm AS opa
ARG OPA_VERSION
# CGO off: a static binary that needs no C libraries in the runtime image.
RUN CGO_ENABLED=0 go install "github.com/open-policy-agent/opa@${OPA_VERSION}" \
 && /go/bin/opa version

# ---- build -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    OPA_BIN=/usr/local/bin/opa
WORKDIR /app

COPY --from=opa /go/bin/opa /usr/local/bin/opa
# package.json is needed at run time: it declares "type": "module" for dist/.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# dist/transport/grpc/load-protos.js loads ../../../proto, that is /app/proto.
COPY proto ./proto
COPY policies ./policies
COPY config ./config

# A default config so the image starts as is: the example policies, no token issuers (only
# the public example API allows). Mount your own file over it. The compile cache must be
# writable by "node"; a relative path would resolve under /etc/gatehouse, which is not.
RUN mkdir -p /etc/gatehouse /var/cache/gatehouse \
 && printf '%s\n' \
      '# Built into the image. Mount your own config at this path (see README, "Docker").' \
      'policies:' \
      '  dir: /app/policies' \
      '  compileCacheDir: /var/cache/gatehouse/wasm' \
      'persistence:' \
      '  dir: /var/cache/gatehouse/state' \
      > /etc/gatehouse/gatehouse.yaml \
 && chown 1000:1000 /var/cache/gatehouse

# The image's "node" user, by number: a name cannot be checked against runAsNonRoot.
USER 1000:1000
# 9191: gRPC ext_authz v3, health and reflection. 9192: HTTP checks. 9193: the probe port
# (/healthz, /readyz, /metrics, /status), answered by its own thread.
EXPOSE 9191 9192 9193
# Liveness for docker and compose (slim images have no curl): node's own fetch against the
# probe port. Kubernetes ignores HEALTHCHECK and uses the probes in deploy/kubernetes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9193/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains (readiness false, in-flight checks answered, exit 0): node is PID 1 here
# and handles it itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config", "/etc/gatehouse/gatehouse.yaml"]
