# Scheduler: the job queue and state in NATS JetStream, and the worker streams.
# Build from the repository root:
#   docker build -f deploy/docker/scheduler.Dockerfile -t faas-scheduler .
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
COPY services/scheduler ./services/scheduler
COPY tsconfig.json tsconfig.build.json ./
RUN npm run generate && npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# The services run compiled (npm run build): plain node, no TypeScript at run time.
COPY --from=build /app/dist ./dist
# The files stay owned by root, so the service cannot change its own code.
USER node
EXPOSE 50052 9464
CMD ["node", "dist/services/scheduler/main.js"]
