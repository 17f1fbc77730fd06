# syntax=docker/dockerfile:1
#
# One image for every renderbot process; the command picks the process:
#   docker run IMAGE api | worker | discord | dashboard --host 0.0.0.0 | db upgrade | demo
# (without a command: `renderbot serve`, the all-in-one embedded default on SQLite).
# docker-compose.yml runs the production topology with it; see README "Deploying".
#
# Contents: the Python app (requirements.lock) + Node.js 20 + the Remotion project with its
# npm dependencies (`npm ci`) + Debian's Chromium for the local render backend.
# Layers go from the least to the most often changed: system packages, Python
# dependencies, npm dependencies, then the source.

ARG PYTHON_VERSION=3.11
# Debian 13 (trixie): Node.js 20 and Chromium come from Debian itself.
FROM python:${PYTHON_VERSION}-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    RENDERBOT_VAR_DIR=/var/lib/renderbot \
    RENDERBOT_CHROMIUM_PATH=/usr/bin/chromium-headless-shell \
    RENDERBOT_API__HOST=0.0.0.0 \
    RENDERBOT_API__LOG_FORMAT=json

# Node.js 20 + npm (the Remotion render server, Remotion's bundler), chromium-headless-shell (renders
# the frames; Remotion starts it headless with --no-sandbox), fonts for the compositions,
# tini as PID 1 (forwards signals, reaps the browser's children).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates chromium chromium-headless-shell fonts-dejavu-core fonts-liberation nodejs npm tini \
 && rm -rf /var/lib/apt/lists/* \
 && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
 && chromium --version && chromium-headless-shell --version

# The unprivileged user every process runs as; /var/lib/renderbot is its volume.
RUN groupadd --system --gid 10001 renderbot \
 && useradd --system --uid 10001 --gid renderbot --home-dir /home/renderbot \
      --create-home --shell /usr/sbin/nologin renderbot \
 && install -d -o renderbot -g renderbot /var/lib/renderbot /app/remotion

WORKDIR /app

# Python dependencies: rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && pip install -r requirements.lock

# npm dependencies: rebuilt only when remotion/package*.json change. Installed as the app
# user: Remotion's bundler keeps its webpack cache in remotion/node_modules/.cache.
COPY --chown=renderbot:renderbot remotion/package.json remotion/package-lock.json remotion/
USER renderbot
RUN npm ci --prefix remotion --no-audit --no-fund --loglevel=error \
      --cache /tmp/npm-cache \
 && rm -rf /tmp/npm-cache
USER root

# The source (owned by root: read-only for the app), installed in place so `renderbot`
# finds migrations/, alembic.ini, dashboard/app.py and remotion/ beside it.
COPY . .
RUN pip install --no-deps -e . \
 && renderbot --help > /dev/null

USER renderbot
EXPOSE 8000 8501

# Liveness of `renderbot api` / `renderbot serve` (docker-compose.yml gives the other
# processes their own checks).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RENDERBOT_API__PORT', '8000'), timeout=4)"]

ENTRYPOINT ["tini", "--", "renderbot"]
CMD ["serve"]
