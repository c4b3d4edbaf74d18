#!/usr/bin/env bash
# Build the connector image sourceiterable/source-iterable:<version> (and :dev), from nothing, on Debian.
# The name is metadata.yaml's dockerRepository, the version pyproject.toml's.
#
#   bash scripts/docker_build.sh                      # local Debian base, no registry needed
#   DOCKER_BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:... bash scripts/docker_build.sh
#   bash scripts/docker_build.sh --base-image IMAGE   # same as DOCKER_BASE_IMAGE=IMAGE
#   bash scripts/docker_build.sh --rebuild-base       # debootstrap the local base again
#   bash scripts/docker_build.sh --daemon-only        # steps 1-2 only; prints the DOCKER_HOST to use
#
# Steps (each prints its duration; the script stops at the first failure with a non-zero status):
#   1. tools: apt-get install docker.io (and debootstrap for the local base) if missing
#   2. daemon: use a Docker daemon that answers, or start a private dockerd on /run/si-docker.sock
#   3. base: local/python-base:bookworm (debootstrap minbase + docker import), then
#      local/python-base-venv:bookworm (a venv at /opt/venv on PATH, user airbyte uid 1000)
#      -- skipped when DOCKER_BASE_IMAGE is set (e.g. Airbyte's python-connector-base from a registry)
#   4. wheels: pip wheel of the package and all dependencies on the host, into .docker-build/context/wheels
#   5. image: docker build --network none on that context
#
# Why a venv in the local base: Debian's python3 is "externally managed" (PEP 668), so a plain
# `pip install` into it is refused. A venv (/opt/venv, on PATH) gives `python`/`pip` that behave like
# the python in Airbyte's base image without --break-system-packages touching Debian's own packages.
# The connector itself is installed into its own venv (/opt/source-iterable, see Dockerfile), which
# works the same on both bases.
#
# Environment: DOCKER_BASE_IMAGE, DEBOOTSTRAP_MIRROR (default: the Debian mirror apt uses here),
# SI_DOCKER_BUILD_DIR (default .docker-build), SI_DOCKER_SOCK (default /run/si-docker.sock),
# SI_DOCKER_STORAGE_DRIVER (default overlay2), PYTHON (default .venv/bin/python, else python3).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SI_DOCKER_BUILD_DIR:-$ROOT/.docker-build}"
CONTEXT_DIR="$BUILD_DIR/context"
SUITE=bookworm
ROOTFS="$BUILD_DIR/rootfs-$SUITE"
LOCAL_BASE="local/python-base:$SUITE"
LOCAL_VENV_BASE="local/python-base-venv:$SUITE"
# The image name, from metadata.yaml (the one place it is declared).
IMAGE_REPO="$(sed -n -E 's/^[[:space:]]*dockerRepository:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' "$ROOT/metadata.yaml")"
[[ -n "$IMAGE_REPO" ]] || { echo "no dockerRepository in $ROOT/metadata.yaml" >&2; exit 1; }
STAGE_LABEL="io.airbyte.source-iterable.stage=install"
SOCK="${SI_DOCKER_SOCK:-/run/si-docker.sock}"
STORAGE_DRIVER="${SI_DOCKER_STORAGE_DRIVER:-overlay2}"
BASE_IMAGE="${DOCKER_BASE_IMAGE:-}"
REBUILD_BASE=0
DAEMON_ONLY=0

while (($#)); do
    case "$1" in
        --base-image) BASE_IMAGE="${2:?--base-image needs an image reference}"; shift 2 ;;
        --base-image=*) BASE_IMAGE="${1#*=}"; shift ;;
        --rebuild-base) REBUILD_BASE=1; shift ;;
        --daemon-only) DAEMON_ONLY=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

# Everything human-readable goes to stderr; stdout is kept for --daemon-only's answer.
log() { printf '%s [docker_build] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR${CURRENT_STEP:+ in step $CURRENT_STEP}: $*"; exit 1; }

now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
fmt_ms() { printf '%d.%01d s' $(($1 / 1000)) $((($1 % 1000) / 100)); }

SUMMARY=()
CURRENT_STEP=""
on_error() { log "FAILED (status $?)${CURRENT_STEP:+ in step $CURRENT_STEP}: line ${BASH_LINENO[0]}: $BASH_COMMAND"; }
trap on_error ERR

# step NAME FUNCTION: run one step, print its duration, remember it for the summary.
step() {
    local name="$1" fn="$2" t0 ms
    CURRENT_STEP="$name"
    log "==> $name"
    t0="$(now_ms)"
    "$fn"
    ms=$(($(now_ms) - t0))
    log "<== $name: done in $(fmt_ms "$ms")"
    SUMMARY+=("$(printf '%-8s %10s' "$name" "$(fmt_ms "$ms")")")
    CURRENT_STEP=""
}

need_root() { ((EUID == 0)) || die "$1 needs root (run as root, e.g. with sudo)"; }

docker_answers() { timeout 15 docker info > /dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------------
# 1. tools
step_tools() {
    local missing=()
    command -v docker > /dev/null || missing+=(docker.io)
    if ! command -v dockerd > /dev/null && ! docker_answers; then
        [[ " ${missing[*]-} " == *" docker.io "* ]] || missing+=(docker.io)
    fi
    if [[ -z "$BASE_IMAGE" && $DAEMON_ONLY -eq 0 ]] && ! command -v debootstrap > /dev/null; then
        missing+=(debootstrap)
    fi
    if ((${#missing[@]} == 0)); then
        log "docker $(docker --version | sed 's/^Docker version //'); debootstrap $(
            command -v debootstrap > /dev/null && debootstrap --version | awk '{print $2}' || echo '(not needed)')"
        return 0
    fi
    need_root "apt-get install ${missing[*]}"
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null < /dev/null
    command -v docker > /dev/null || die "docker still missing after apt-get install"
}

# ---------------------------------------------------------------------------------------------------
# 2. daemon
step_daemon() {
    if docker_answers; then
        log "a Docker daemon answers at ${DOCKER_HOST:-the default socket}"
        return 0
    fi
    export DOCKER_HOST="unix://$SOCK"
    if docker_answers; then
        log "private dockerd already running at $DOCKER_HOST"
        return 0
    fi
    need_root "starting dockerd"
    command -v dockerd > /dev/null || die "dockerd not found (apt-get install docker.io)"
    mkdir -p "$BUILD_DIR"
    local logfile="$BUILD_DIR/dockerd.log" name="${SOCK##*/}"
    name="${name%.sock}"
    log "starting dockerd ($STORAGE_DRIVER) on $DOCKER_HOST, log: $logfile"
    # setsid + nohup: the daemon outlives this script, so later builds and runs reuse it.
    setsid nohup dockerd \
        --iptables=false --bridge=none --storage-driver="$STORAGE_DRIVER" \
        --data-root "/var/lib/$name" --exec-root "/run/$name" --pidfile "/run/$name.pid" \
        -H "$DOCKER_HOST" >> "$logfile" 2>&1 < /dev/null &
    local pid=$! i
    for i in $(seq 1 60); do
        if docker_answers; then
            log "dockerd (pid $pid) answers after ${i} s; stop it with: kill \$(cat /run/$name.pid)"
            return 0
        fi
        if ! kill -0 "$pid" 2> /dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "dockerd exited; see $logfile"
        fi
        sleep 1
    done
    tail -n 20 "$logfile" >&2 || true
    die "dockerd did not answer within 60 s; see $logfile"
}

# ---------------------------------------------------------------------------------------------------
# 3. base images
apt_mirror() {
    # The Debian archive this machine's apt uses (deb822 .sources first, then one-line .list files).
    local uri=""
    uri="$(cat /etc/apt/sources.list.d/*.sources 2> /dev/null | awk '
        tolower($1) == "uris:" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')" || true
    if [[ -z "$uri" ]]; then
        uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null | sed -E -n \
            's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+\/debian\/?)[[:space:]].*/\2/p' |
            head -n 1)" || true
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2> /dev/null || true; }

step_base() {
    if [[ -n "$BASE_IMAGE" ]]; then
        log "DOCKER_BASE_IMAGE=$BASE_IMAGE: no local base needed"
        return 0
    fi
    if ((REBUILD_BASE)); then
        log "--rebuild-base: removing $ROOTFS and the local base images"
        rm -rf "$ROOTFS" "$ROOTFS.complete"
        docker image rm -f "$LOCAL_VENV_BASE" "$LOCAL_BASE" > /dev/null 2>&1 || true
    fi

    if [[ -z "$(image_id "$LOCAL_BASE")" ]]; then
        if [[ ! -f "$ROOTFS.complete" ]]; then
            need_root "debootstrap"
            command -v debootstrap > /dev/null || die "debootstrap not found (apt-get install debootstrap)"
            local mirror="${DEBOOTSTRAP_MIRROR:-$(apt_mirror)}" t0
            log "debootstrap --variant=minbase $SUITE from $mirror into $ROOTFS"
            rm -rf "$ROOTFS"
            mkdir -p "$BUILD_DIR"
            t0="$(now_ms)"
            if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
                "$SUITE" "$ROOTFS" "$mirror" > "$BUILD_DIR/debootstrap.log" 2>&1; then
                tail -n 30 "$BUILD_DIR/debootstrap.log" >&2 || true
                die "debootstrap failed; see $BUILD_DIR/debootstrap.log"
            fi
            touch "$ROOTFS.complete"
            log "debootstrap took $(fmt_ms $(($(now_ms) - t0)))"
        else
            log "reusing the cached root filesystem $ROOTFS"
        fi
        log "docker import -> $LOCAL_BASE"
        tar -C "$ROOTFS" --numeric-owner \
            --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
            --exclude='./debootstrap' -c . |
            docker import \
                --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                --change 'ENV LANG=C.UTF-8' \
                --change 'CMD ["python3"]' \
                - "$LOCAL_BASE" > /dev/null
    else
        log "$LOCAL_BASE exists"
    fi

    # The venv base is rebuilt when it is missing or was built on another $LOCAL_BASE.
    local base_id dir="$BUILD_DIR/base-venv"
    base_id="$(image_id "$LOCAL_BASE")"
    if [[ -n "$(image_id "$LOCAL_VENV_BASE")" && "$(cat "$dir.from" 2> /dev/null || true)" == "$base_id" ]]; then
        log "$LOCAL_VENV_BASE exists (built on this $LOCAL_BASE)"
        return 0
    fi
    log "docker build --network none -> $LOCAL_VENV_BASE"
    rm -rf "$dir" "$dir.from"
    mkdir -p "$dir"
    cat > "$dir/Dockerfile" << EOF
FROM $LOCAL_BASE
# Debian's python3 refuses pip installs (PEP 668): give the image a venv on PATH instead.
# Also the same layout as Airbyte's python-connector-base: user airbyte (uid 1000), /airbyte.
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/python -m pip --version \\
    && if ! id -u airbyte > /dev/null 2>&1; then \\
        useradd --uid 1000 --user-group --system --no-create-home --home-dir /airbyte airbyte; fi \\
    && mkdir -p /airbyte && chown airbyte:airbyte /airbyte \\
    && rm -rf /root/.cache
ENV VIRTUAL_ENV=/opt/venv \\
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PIP_NO_CACHE_DIR=1
WORKDIR /airbyte
CMD ["python"]
EOF
    if ! docker build --network none -t "$LOCAL_VENV_BASE" "$dir" > "$BUILD_DIR/base-venv.log" 2>&1; then
        tail -n 30 "$BUILD_DIR/base-venv.log" >&2 || true
        die "building $LOCAL_VENV_BASE failed; see $BUILD_DIR/base-venv.log"
    fi
    echo "$base_id" > "$dir.from"
}

# ---------------------------------------------------------------------------------------------------
# 4. wheels
PY=""
VERSION=""

pick_python() {
    PY="${PYTHON:-}"
    if [[ -z "$PY" ]]; then
        if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
    fi
    if ! "$PY" -m pip --version > /dev/null 2>&1; then
        need_root "apt-get install python3-pip"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip > /dev/null
    fi
    VERSION="$("$PY" -c 'import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")"
}

py_minor() { "$@" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

step_wheels() {
    local base="${BASE_IMAGE:-$LOCAL_VENV_BASE}" host_py image_py src="$BUILD_DIR/src" wheels="$CONTEXT_DIR/wheels"
    host_py="$(py_minor "$PY")"
    image_py="$(docker run --rm --network none --entrypoint python3 "$base" \
        -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    log "host python $host_py ($PY), image python $image_py ($base)"
    [[ "$host_py" == "$image_py" ]] ||
        die "wheels built with Python $host_py would not fit the image's Python $image_py; set PYTHON=python$image_py"

    # Build from a clean copy: no stale build/ or egg-info, no __pycache__, nothing but the package.
    rm -rf "$src" "$wheels"
    mkdir -p "$src" "$wheels"
    local f items=()
    for f in pyproject.toml setup.cfg setup.py MANIFEST.in README.md LICENSE LICENSE.txt source_iterable; do
        [[ -e "$ROOT/$f" ]] && items+=("$f")
    done
    tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -c "${items[@]}" | tar -C "$src" -x

    log "pip wheel $VERSION and its dependencies -> $wheels (log: $BUILD_DIR/pip-wheel.log)"
    if ! "$PY" -m pip wheel --disable-pip-version-check --wheel-dir "$wheels" "$src" \
        > "$BUILD_DIR/pip-wheel.log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$BUILD_DIR/pip-wheel.log" | tail -n 30 >&2 || true
        die "pip wheel failed; see $BUILD_DIR/pip-wheel.log"
    fi
    local count odd
    count="$(find "$wheels" -name '*.whl' | wc -l)"
    [[ -n "$(find "$wheels" -name "source_iterable-$VERSION-*.whl")" ]] || die "no source_iterable-$VERSION wheel"
    # Binary wheels must be for this Python (cp311 or abi3) and portable (manylinux/musllinux).
    odd="$(find "$wheels" -name '*.whl' -printf '%f\n' | grep -v -e '-none-any\.whl$' |
        grep -v -e "-cp${image_py/./}-" -e '-abi3-' || true)"
    [[ -z "$odd" ]] || die "wheels for another Python: $odd"
    odd="$(find "$wheels" -name '*.whl' -printf '%f\n' | grep -e '-linux_' || true)"
    [[ -z "$odd" ]] || log "WARNING: wheels built on this host (not manylinux), glibc must match: $odd"
    log "$count wheels, $(du -sh "$wheels" | cut -f1)"
}

# ---------------------------------------------------------------------------------------------------
# 5. image
step_image() {
    local base="${BASE_IMAGE:-$LOCAL_VENV_BASE}" meta_tag
    cp "$ROOT/Dockerfile" "$CONTEXT_DIR/Dockerfile"
    [[ -f "$ROOT/.dockerignore" ]] && cp "$ROOT/.dockerignore" "$CONTEXT_DIR/.dockerignore"
    if [[ -f "$ROOT/metadata.yaml" ]]; then
        meta_tag="$(sed -n -E 's/^[[:space:]]*dockerImageTag:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' "$ROOT/metadata.yaml")"
        [[ "$meta_tag" == "$VERSION" ]] ||
            log "WARNING: metadata.yaml dockerImageTag ($meta_tag) differs from pyproject.toml version ($VERSION)"
    fi
    log "docker build --network none --build-arg BASE_IMAGE=$base -t $IMAGE_REPO:$VERSION -t $IMAGE_REPO:dev"
    if ! docker build --network none \
        --build-arg "BASE_IMAGE=$base" --build-arg "CONNECTOR_VERSION=$VERSION" \
        -t "$IMAGE_REPO:$VERSION" -t "$IMAGE_REPO:dev" "$CONTEXT_DIR" > "$BUILD_DIR/docker-build.log" 2>&1; then
        tail -n 40 "$BUILD_DIR/docker-build.log" >&2 || true
        die "docker build failed; see $BUILD_DIR/docker-build.log"
    fi
    # The classic builder keeps each finished install stage as an untagged image; keep the newest
    # (the layer cache of the next build), drop older ones so rebuilds do not pile them up.
    # Likewise a previous connector image that lost its tags to this build.
    docker images -q --filter "label=$STAGE_LABEL" | tail -n +2 | xargs -r docker image rm -f > /dev/null 2>&1 || true
    docker images -q --filter dangling=true --filter "label=io.airbyte.name=$IMAGE_REPO" |
        xargs -r docker image rm > /dev/null 2>&1 || true
    log "smoke test: docker run --rm --network none $IMAGE_REPO:dev spec"
    docker run --rm --network none "$IMAGE_REPO:dev" spec | grep -q '"type": *"SPEC"' ||
        die "the image's spec command printed no SPEC message"
    local size
    size="$(docker image inspect -f '{{.Size}}' "$IMAGE_REPO:dev")"
    log "image $IMAGE_REPO:$VERSION: $((size / 1000000)) MB ($size bytes), user $(
        docker image inspect -f '{{.Config.User}}' "$IMAGE_REPO:dev"), labels $(
        docker image inspect -f '{{json .Config.Labels}}' "$IMAGE_REPO:dev")"
}

# ---------------------------------------------------------------------------------------------------
T_START="$(now_ms)"
step tools step_tools
step daemon step_daemon
if ((DAEMON_ONLY)); then
    echo "${DOCKER_HOST:-}"
    exit 0
fi
pick_python
# The classic builder is enough (no BuildKit-only syntax); use it when buildx is not installed.
if [[ -z "${DOCKER_BUILDKIT:-}" ]] && ! docker buildx version > /dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
log "source-iterable $VERSION, base ${BASE_IMAGE:-$LOCAL_VENV_BASE}, build dir $BUILD_DIR"
step base step_base
step wheels step_wheels
step image step_image

log "summary:"
for line in "${SUMMARY[@]}"; do log "  $line"; done
log "  total    $(fmt_ms $(($(now_ms) - T_START)))"
log "built $IMAGE_REPO:$VERSION and $IMAGE_REPO:dev${DOCKER_HOST:+ (DOCKER_HOST=$DOCKER_HOST)}"
