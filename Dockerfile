# Airbyte source connector image for source-iterable.
#
# The build context holds this file and `wheels/`: the connector's wheel and every dependency's wheel,
# built beforehand on a host with network access (scripts/docker_build.sh does all of it:
#   pip wheel --wheel-dir .docker-build/context/wheels . ; docker build --network none ...).
# Nothing is downloaded while the image builds, so it builds with `docker build --network none`.
#
# Base image: Airbyte's Python connector base (Python 3.11, user airbyte uid 1000, /airbyte).
# The digest below is the one Airbyte's own connectors pin for 4.0.2, as recorded in their
# metadata.yaml / Dockerfiles; it was not pulled from a registry here (this machine has none).
# Without a registry, build on a local Debian bookworm base instead:
#   --build-arg BASE_IMAGE=local/python-base-venv:bookworm   (made by scripts/docker_build.sh)
# Any base works that has `python3` 3.11 (the wheels' Python) with the venv module.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

# ---- stage 1: install the wheels into a self-contained virtualenv --------------------------------
# Done in a throw-away stage so the wheels never reach a layer of the final image.
FROM ${BASE_IMAGE} AS install
LABEL io.airbyte.source-iterable.stage="install"
COPY wheels/ /wheels/
RUN python3 -m venv /opt/source-iterable \
    && /opt/source-iterable/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels \
        --disable-pip-version-check source-iterable \
    && /opt/source-iterable/bin/source-iterable spec > /dev/null

# ---- stage 2: the connector image -----------------------------------------------------------------
FROM ${BASE_IMAGE}
# Equal to metadata.yaml dockerImageTag and pyproject.toml version (unit_tests/test_metadata.py).
ARG CONNECTOR_VERSION=0.3.0

# Airbyte's base has the airbyte user (uid 1000) and /airbyte; a plain Debian base may not.
# useradd comes with Debian's `passwd` package, which every Debian image has (adduser may be missing).
RUN if ! id -u airbyte > /dev/null 2>&1; then \
        useradd --uid 1000 --user-group --system --no-create-home --home-dir /airbyte airbyte; \
    fi \
    && mkdir -p /airbyte/integration_code \
    && chown airbyte:airbyte /airbyte /airbyte/integration_code

# The venv's python is a symlink to the base's python3 (same path in both stages, same base image).
COPY --from=install /opt/source-iterable /opt/source-iterable

ENV PATH="/opt/source-iterable/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRBYTE_ENTRYPOINT="source-iterable"

WORKDIR /airbyte/integration_code
USER airbyte

# Our own namespace (metadata.yaml dockerRepository), not Airbyte's airbyte/source-iterable.
LABEL io.airbyte.name="sourceiterable/source-iterable" \
      io.airbyte.version="${CONNECTOR_VERSION}"

ENTRYPOINT ["source-iterable"]
