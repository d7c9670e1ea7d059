# Shiplane's container image: `shiplane serve` on 0.0.0.0:8700 with SQLite under /data by default,
# `shiplane worker` as the alternative command. Configured only through SHIPLANE_* variables and
# a mounted config file (SHIPLANE_CONFIG). See docs/operations.md, "Run it in a container".
#
#   podman build --format docker -t shiplane .        (or: docker build -t shiplane .)
#   podman run -p 8700:8700 -v shiplane-data:/data -e SHIPLANE_BOOTSTRAP_TOKEN=... shiplane

# --- build: a venv with shiplane and its dependencies (all wheels; no compiler needed) ---
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Behind a TLS-inspecting proxy, pass its CA bundle: --build-arg PIP_CERT=/path (mounted with -v).
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/shiplane
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# pip's cache is a build cache mount: it speeds up rebuilds and never lands in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/shiplane/bin/pip install --no-compile . \
 && /opt/shiplane/bin/pip uninstall -y -q pip setuptools \
 && find /opt/shiplane/lib -depth -type d -name tests -path '*/site-packages/*/tests' -exec rm -rf {} + \
 && find /opt/shiplane/lib -name '*.pyi' -delete \
 && for d in /opt/shiplane/lib/python3*/site-packages/botocore/data/*/; do \
      case "$(basename "$d")" in cloudwatch|sts|sso|sso-oidc) ;; *) rm -rf "$d" ;; esac; \
    done \
 && find /opt/shiplane/lib -path '*/site-packages/swagger_ui_bundle/*' -name '*.map' -delete
# botocore carries the API models of ~450 AWS services (~28 MB); Shiplane calls CloudWatch, and
# the credential chain may call STS and SSO: only those stay. Swagger UI's source maps (~5 MB)
# serve only a browser's developer tools.
# Byte-compile what the commands load, by loading it: the imports of serve, worker and the
# judge, and the migrations (a `db upgrade` of a throwaway file). The rest compiles in memory
# when used: the non-root user cannot write __pycache__ under /opt, and compiling every module
# of scipy, numpy and the rest would add ~70 MB.
RUN /opt/shiplane/bin/python -c "import shiplane.cli, shiplane.app, shiplane.protocol, shiplane.health.judge, shiplane.enforcement.runtime, httpx, uvicorn.main, uvicorn.loops.auto, uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on, psycopg" \
 && SHIPLANE_DATABASE_URL=sqlite:////tmp/warm.db /opt/shiplane/bin/shiplane db upgrade \
 && rm /tmp/warm.db*

# --- run: Debian's Python and the venv, nothing else ---
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 shiplane \
 && useradd --system --uid 10001 --gid shiplane --home-dir /data --no-create-home shiplane \
 && install -d -o shiplane -g shiplane -m 0750 /data
COPY --from=build /opt/shiplane /opt/shiplane
ENV PATH=/opt/shiplane/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHIPLANE_HOST=0.0.0.0 \
    SHIPLANE_PORT=8700 \
    SHIPLANE_DATABASE_URL=sqlite:////data/shiplane.db
USER shiplane:shiplane
WORKDIR /data
VOLUME /data
EXPOSE 8700
# No curl in the image: Python asks /healthz (liveness only; it does not query the database).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('SHIPLANE_PORT', '8700')}/healthz\", timeout=2)"]
ENTRYPOINT ["shiplane"]
CMD ["serve"]
