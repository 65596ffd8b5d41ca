#!/usr/bin/env bash
# Builds, from Debian's packages, every image the local mode needs, for machines where no
# container registry can be reached. Idempotent: an image that already exists is kept.
#
#   bash docker/build-images.sh            # build what is missing (skips all if official images pull)
#   bash docker/build-images.sh --force    # rebuild everything
#   bash docker/build-images.sh --offline  # do not even try to pull official images
#   bash docker/build-images.sh --if-docker # do nothing (exit 0) where no Docker engine answers
#
# Images produced (the harness finds them by itself when the official ones are absent): the
# base chaos-local/debian:bookworm (debootstrap | docker import), and for every image a system
# registers (`chaos list --images`), its offline build from docker/<name>/Dockerfile; and k6,
# built with Go where it is missing. An image registered as official only (mongo: mongod is in
# no Debian package) has no Dockerfile: it is pulled where a registry answers, else skipped with
# a line saying so (its scenarios then say how to get it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0; offline=0; if_docker=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --offline) offline=1 ;;
    --if-docker) if_docker=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-images.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[build-images] %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  if [ "$if_docker" = 1 ]; then log "no Docker engine answers: nothing built (tests that need it will skip and say so)"; exit 0; fi
  log "Docker is not reachable (docker info failed). Start the engine (dockerd) or set DOCKER_HOST, then retry."
  exit 3
fi

# The images come from the systems' registration (systems/index.ts): `name official offline`,
# each offline image built from docker/<name>/Dockerfile.
# k6, for the web tier's probe: not an image, but what its scenarios need beside Docker. The
# pinned release is built with Go (about 2.5 min the first time) where K6_BIN, the PATH and Go's
# bin folder have none; without Go the k6 scenarios say how to get it when asked to run.
if [ -z "${K6_BIN:-}" ] && ! command -v k6 >/dev/null 2>&1 \
  && ! { command -v go >/dev/null 2>&1 && [ -x "$(go env GOPATH)/bin/k6" ]; }; then
  if command -v go >/dev/null 2>&1; then
    log "building k6 v1.8.1 with Go (go install go.k6.io/k6@v1.8.1)"
    GOFLAGS=-mod=mod go install go.k6.io/k6@v1.8.1 || log "k6 could not be built: the web tier's scenarios will say so"
  else
    log "no k6 and no Go: the web tier's scenarios need k6 (go install go.k6.io/k6@v1.8.1, or set K6_BIN)"
  fi
fi

# toxiproxy's server, for the gray network faults (latency, bandwidth, blackhole): found as
# TOXIPROXY_BIN, toxiproxy-server on the PATH, or Go's bin folder; built with Go where missing
# (`go install` names it `server`). Without it those faults' scenarios and tests say how to get it.
if [ -z "${TOXIPROXY_BIN:-}" ] && ! command -v toxiproxy-server >/dev/null 2>&1 \
  && ! { command -v go >/dev/null 2>&1 && "$(go env GOPATH)/bin/server" -version 2>/dev/null | grep -q toxiproxy; }; then
  if command -v go >/dev/null 2>&1; then
    log "building toxiproxy v2.5.0 with Go (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0)"
    go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0 || log "toxiproxy could not be built: the gray network faults will say so"
  else
    log "no toxiproxy and no Go: the gray network faults need it (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0, or set TOXIPROXY_BIN)"
  fi
fi

mapfile -t rows < <(node "$here/../bin/chaos.js" list --images)
[ "${#rows[@]}" -gt 0 ] || { log "could not list the images (is npm ci done?)"; exit 3; }
# `name official offline` a line; an official-only image is a comment: `# name official official only: why`.
images=(); official_only=()
for row in "${rows[@]}"; do
  case "$row" in
    '#'*) official_only+=("${row#\# }") ;;
    *) images+=("$row") ;;
  esac
done
[ "${#images[@]}" -gt 0 ] || { log "no image to build in the list (chaos list --images)"; exit 3; }

# Official-only images: pulled where a registry answers (not with --offline), never built, and
# never a reason to fail: without one, only the scenarios that need it cannot run, and say so.
for row in ${official_only[@]+"${official_only[@]}"}; do
  name="$(echo "$row" | cut -d' ' -f1)"; official="$(echo "$row" | cut -d' ' -f2)"
  if have_image "$official"; then
    log "$official present ($name is official only)"
  elif [ "$offline" = 0 ] && timeout 120 docker pull -q "$official" >/dev/null 2>&1; then
    log "pulled $official ($name is official only)"
  else
    log "skipped $name ($official): $(echo "$row" | cut -d' ' -f3-)"
  fi
done
all_present() { # all_present COLUMN (2 official, 3 offline)
  for row in "${images[@]}"; do have_image "$(echo "$row" | cut -d' ' -f"$1")" || return 1; done
}

# Official images first: where they can be pulled, nothing needs building.
if [ "$offline" = 0 ] && [ "$force" = 0 ]; then
  if all_present 2; then log "official images are present; nothing to build"; exit 0; fi
  if all_present 3; then log "offline images are present; nothing to build (--force rebuilds)"; exit 0; fi
  pulled=1
  for row in "${images[@]}"; do
    official="$(echo "$row" | cut -d' ' -f2)"
    have_image "$official" || timeout 120 docker pull -q "$official" >/dev/null 2>&1 || { pulled=0; break; }
  done
  if [ "$pulled" = 1 ]; then log "pulled the official images; nothing to build"; exit 0; fi
  log "no registry reachable: building chaos-local/* images from Debian's packages"
fi

# The Debian mirror is the one this machine's apt already uses (override with DEBIAN_MIRROR).
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | head -n1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)"
fi
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR"; exit 2; }

if [ "$force" = 1 ] || ! have_image chaos-local/debian:bookworm; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  rootfs="$(mktemp -d /tmp/chaos-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/chaos-debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /tmp/chaos-debootstrap.log"; exit 3; }
  # The image's apt points at the same mirror, and keeps no caches.
  echo "deb $mirror bookworm main" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - chaos-local/debian:bookworm >/dev/null
  log "built chaos-local/debian:bookworm"
fi

build() { # build TAG DIR
  if [ "$force" = 1 ] || ! have_image "$1"; then
    log "building $1"
    # A folder with a context.sh builds from a copy of itself that the script fills (files
    # fetched for the image, such as the node image's release binary).
    local ctx="$here/$2" tmp=""
    if [ -f "$here/$2/context.sh" ]; then
      tmp="$(mktemp -d /tmp/chaos-context.XXXXXX)"
      cp -R "$here/$2/." "$tmp/"
      bash "$here/$2/context.sh" "$tmp" 2>&1 | sed "s/^/[build-images] $2: /" >&2 \
        || { log "docker/$2/context.sh failed: $1 not built"; rm -rf "$tmp"; return 3; }
      ctx="$tmp"
    fi
    docker build -q -t "$1" --build-arg BASE=chaos-local/debian:bookworm "$ctx" >/dev/null \
      || { log "docker build of $1 failed"; [ -z "$tmp" ] || rm -rf "$tmp"; return 3; }
    [ -z "$tmp" ] || rm -rf "$tmp"
    log "built $1"
  else
    log "$1 present"
  fi
}
pids=()
for row in "${images[@]}"; do
  name="$(echo "$row" | cut -d' ' -f1)"; offline_tag="$(echo "$row" | cut -d' ' -f3)"
  [ -f "$here/$name/Dockerfile" ] || { log "no docker/$name/Dockerfile for $offline_tag"; exit 3; }
  build "$offline_tag" "$name" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
docker images --filter reference='chaos-local/*' --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' >&2
