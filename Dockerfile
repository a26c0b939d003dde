# Findings Ledger pipeline image: `docker build -t findings-ledger .`
# Runs `ledger run` by default; any other subcommand works: `docker run … findings-ledger validate`.
#
# rocksdb ships a prebuilt binary for linux-x64 with glibc, which is why the base is Debian
# bookworm-slim (glibc) and not Alpine (musl); on arm64 hosts build with --platform linux/amd64.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
# `npm ci` installs from the lockfile and runs `prepare`, which compiles TypeScript into dist/.
# Dev dependencies (typescript) are needed for that, then dropped here so the runtime stage
# copies a production-only node_modules instead of deleting files in a layer of its own.
RUN npm ci && npm prune --omit=dev && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/bin ./bin
# A new named volume takes the ownership of the directory it is mounted over, so the state
# directory must already belong to the unprivileged user.
RUN mkdir -p /var/lib/ledger/state && chown node:node /var/lib/ledger/state
USER node
EXPOSE 9464
ENTRYPOINT ["node", "bin/ledger.mjs"]
CMD ["run"]
