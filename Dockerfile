# capi-consumer container image: small, non-root, pinned base, the console script as entrypoint.
#   docker build -t capi-consumer:0.1.0 .
#   docker run --rm -v $PWD/config/example.yaml:/etc/capi-consumer/config.yaml:ro \
#     -e CAPI_PIXELS__<pixel_id>__ACCESS_TOKEN=... capi-consumer:0.1.0
# The base is pinned by exact version; pin it by digest too (python:3.11.11-slim-bookworm@sha256:...)
# in your own registry mirror, where the digest can be checked.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# setup.py compiles consumer/core with mypyc (C) and its SHA-256 extension (OpenSSL): the builder
# needs a C compiler and OpenSSL's headers; the runtime image only the libcrypto Python links to.
# Build with --build-arg CONSUMER_CORE_PURE=1 for the pure-Python package.
ARG CONSUMER_CORE_PURE=0
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY consumer ./consumer
RUN CONSUMER_CORE_PURE=${CONSUMER_CORE_PURE} python -m venv /opt/venv && /opt/venv/bin/pip install --no-compile . \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="capi-consumer" \
      org.opencontainers.image.description="Kafka order/lead events to Meta's Conversions API" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 capi \
    && useradd --system --uid 10001 --gid capi --home-dir /nonexistent --shell /usr/sbin/nologin capi
COPY --from=build /opt/venv /opt/venv
# The reader schemas live at the repository root, not in the package: ship them and point at them.
COPY schemas /app/schemas
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CAPI_SCHEMA_REGISTRY__SCHEMAS_DIR=/app/schemas \
    CAPI_OBSERVABILITY__HOST=0.0.0.0 \
    CAPI_OBSERVABILITY__LOG_FORMAT=json \
    CAPI_DEDUP__PATH=/var/lib/capi-consumer/dedup
RUN mkdir -p /var/lib/capi-consumer && chown 10001:10001 /var/lib/capi-consumer
WORKDIR /app
USER 10001:10001
EXPOSE 9400
ENTRYPOINT ["capi-consumer"]
CMD ["run", "--config", "/etc/capi-consumer/config.yaml"]
