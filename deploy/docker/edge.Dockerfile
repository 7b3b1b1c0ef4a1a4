# Edge: serves the web page and /config.json, and translates grpc-web for
# browsers when Envoy does not (FAAS_GRPC_WEB=on).
# Build from the repository root:
#   docker build -f deploy/docker/edge.Dockerfile -t faas-edge .
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
COPY services/edge ./services/edge
COPY tsconfig.json tsconfig.build.json ./
COPY web ./web
# The page imports the browser clients in gen/web, which generate makes.
RUN npm run generate && npm run build && npm run build:web && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# The services run compiled (npm run build): plain node, no TypeScript at run time.
COPY --from=build /app/dist ./dist
# FAAS_WEB_ROOT defaults to web/dist, relative to /app.
COPY --from=build /app/web/dist ./web/dist
# The files stay owned by root, so the service cannot change its own code.
USER node
EXPOSE 8080 9464
CMD ["node", "dist/services/edge/main.js"]
