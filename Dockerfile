# Image for the worker, the HTTP API and the one-shot migrate job (see docker-compose.yml):
#   node --max-semi-space-size=4 --heap-growing-percent=50 dist/workers/main.js   node --no-allocation-site-pretenuring dist/workers/api.js   node dist/scripts/migrate.js

# --- build: compile TypeScript into dist/ -----------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# tsc only emits .js; copy any non-TypeScript assets (SQL, templates, ...) next to the output.
RUN npm run build \
 && for dir in src workflows activities workers migrations scripts; do \
      if [ -d "$dir" ]; then \
        find "$dir" -type f ! -name '*.ts' -exec cp --parents {} dist/ \; ; \
      fi; \
    done

# --- runtime: production dependencies + compiled output, non-root ------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# The workflow bundle npm run build wrote: the worker loads it instead of bundling at start.
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
# The worker's memory settings (src/temporal/worker-memory.ts): fewer glibc arenas for the SDK's
# threads; the V8 young generation bounded in the worker's CMD below.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
# The API (API_LISTEN) and the worker's Prometheus metrics (WORKER_METRICS_LISTEN), as compose sets them.
EXPOSE 3000 9464
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=50", "dist/workers/main.js"]
