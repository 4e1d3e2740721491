# syntax=docker/dockerfile:1
# Multi-stage image of the Lexica server: dependencies are installed from the pinned constraints in a
# builder stage; the runtime stage holds only the virtualenv and runs as an unprivileged user.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY constraints.txt pyproject.toml README.md ./
COPY server/lexica ./server/lexica
RUN /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEXICA_ENVIRONMENT=production \
    LEXICA_HOST=0.0.0.0 \
    LEXICA_PORT=8000 \
    LEXICA_DATABASE_URL=sqlite+aiosqlite:////data/lexica.sqlite3
RUN useradd --system --uid 10001 --home-dir /data --create-home lexica
COPY --from=builder /opt/venv /opt/venv
USER lexica
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=120s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2).status != 200)"
# LEXICA_SECRET_KEY must be provided at run time (production mode refuses to start without it).
# `serve` imports GCIDE into the database on first start, then serves with uvicorn (uvloop, httptools).
# With LEXICA_REDIS_URL set, run job workers from the same image: `docker run … lexica worker`.
# SIGTERM drains first (readiness 503 for LEXICA_SHUTDOWN_DRAIN_SECONDS, 5 s in production, requests still served),
# then in-flight requests get LEXICA_SHUTDOWN_GRACE_SECONDS (10 s): allow the container longer than both before
# SIGKILL, e.g. `docker run --stop-timeout 20` (Docker's default is 10 s; Kubernetes' grace period is 30 s).
STOPSIGNAL SIGTERM
CMD ["lexica", "serve"]
