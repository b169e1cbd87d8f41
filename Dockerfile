# The Turnout image: one image, two entrypoints.
#   operator:  python -m turnout_operator        (the default command)
#   router:    python -m turnout_router          (router pods; the operator sets the command)
#   migration: python -m turnout_operator db upgrade
#
# Build from the repository root:  docker build -t turnout:0.1.0 .
#
# It runs as a numeric non-root user with a read-only root filesystem: mount a
# writable emptyDir at /tmp (plugin sockets) and at PLUGINS_DIR (plugin binaries),
# as the Helm chart does.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The router's hot path is compiled with mypyc: a C compiler, and the interpreter's
# headers where the base has none (Debian's python3), in this stage only.
SHELL ["/bin/sh", "-eu", "-c"]
# hadolint ignore=DL3008
RUN apt-get update; \
    apt-get install -y --no-install-recommends gcc libc6-dev; \
    include=$(python3 -c 'import sysconfig; print(sysconfig.get_path("include"))'); \
    [ -e "$include/Python.h" ] || apt-get install -y --no-install-recommends python3-dev; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY operator ./operator
COPY router ./router
COPY plugin_host ./plugin_host
COPY kubectl ./kubectl
COPY packaging/install.sh packaging/compiled-modules.txt packaging/check_compiled.py ./packaging/
# The same script the tests run: a venv at /opt/turnout with the wheel and its
# dependencies, the hot path compiled and checked to load compiled.
RUN TURNOUT_COMPILE=1 sh packaging/install.sh /opt/turnout /src

FROM python:3.11-slim
# Same interpreter path as the build stage, so the venv's links stay valid.
COPY --from=build /opt/turnout /opt/turnout
ENV PATH=/opt/turnout/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    PLUGINS_DIR=/app/plugins \
    USER=turnout \
    HOME=/tmp
# uid 65532 has no passwd entry: USER and HOME stand in for it, for any library that
# asks who or where home is (the operator itself passes kopf its identity).
WORKDIR /app
USER 65532:65532
CMD ["python", "-m", "turnout_operator"]
