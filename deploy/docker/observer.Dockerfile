# Observer: the scaling decision and KEDA's external scaler.
# Build from the repository root:
#   docker build -f deploy/docker/observer.Dockerfile -t faas-observer .
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
COPY services/observer ./services/observer
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
EXPOSE 50053 9464
CMD ["node", "dist/services/observer/main.js"]
