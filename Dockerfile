# Images for docker-compose.yml (see README, "Production deployment"):
#   app       Django: gunicorn (default command), qcluster and the management commands
#   dynalite  the local DynamoDB stand-in, at the version pinned in package-lock.json (its npm
#             install also provides plotly.js's partial bundle to the app image)

FROM node:20-bookworm-slim AS dynalite
WORKDIR /opt/dynalite
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && mkdir /data && chown node:node /data
USER node
EXPOSE 4567
CMD ["node_modules/.bin/dynalite", "--host", "0.0.0.0", "--port", "4567", "--path", "/data"]


FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
# plotly.js's partial bundle (pinned in package-lock.json) comes from npm, like dynalite.
COPY --from=dynalite /opt/dynalite/node_modules/plotly.js-finance-dist-min node_modules/plotly.js-finance-dist-min
# Static files are part of the image (whitenoise serves them); collecting them needs no secret.
RUN DJANGO_DEBUG=true DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --no-create-home --home-dir /app cryptotracker
USER cryptotracker
EXPOSE 8000
CMD ["gunicorn", "cryptotracker.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", \
     "--access-logfile", "-"]
