# Worker: clones repositories and runs jobs in the bubblewrap sandbox.
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t faas-worker .
#
# Unlike the other images, this one runs as root: the sandbox creates a
# cgroup per job, hands the job folder to the slot's uid and drops to that
# uid before bubblewrap starts the job. Jobs themselves never
# run as root. The container also needs the privileges that compose.yaml
# and deploy/kubernetes/worker.yaml give it.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so that a source change does not install them again.
# npm ci runs the prepare script, which needs the protobuf sources.
COPY package.json package-lock.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY vendor ./vendor
RUN npm ci --no-audit --no-fund
COPY common ./common
COPY services/worker ./services/worker
COPY tsconfig.json tsconfig.build.json ./
RUN npm run generate && npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# The sandbox's tools (bubblewrap; setpriv and prlimit from util-linux), git
# for cloning, the runtimes that jobs see read-only through /usr (python3,
# bash, gcc, g++ and the image's own node), and tini, which reaps the
# processes that jobs leave behind when they exit.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap util-linux git ca-certificates python3 gcc g++ libc6-dev tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# The services run compiled (npm run build): plain node, no TypeScript at run time.
COPY --from=build /app/dist ./dist
COPY deploy/docker/worker-entrypoint.sh /usr/local/bin/faas-worker-entrypoint
RUN chmod 0755 /usr/local/bin/faas-worker-entrypoint
EXPOSE 9464
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/faas-worker-entrypoint"]
CMD ["node", "--max-semi-space-size=1", "--expose-gc", "dist/services/worker/main.js"]
