# Production image: daphne serving the ASGI app; static files served by WhiteNoise.
# Migrations are not run here: `manage.py migrate_locked` runs them once per deploy (the
# `migrate` service in docker-compose.yml), so replicas starting together cannot race.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Hashed, compressed static files (DEBUG=0: the manifest storage). collectstatic needs a
# key to import the settings; it is not used for anything else here.
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

RUN useradd --create-home --uid 1000 app && mkdir -p /app/media && chown app /app/media
USER app

EXPOSE 8000
# Liveness: /healthz/ answers whatever ALLOWED_HOSTS says (see deploy/healthcheck.py).
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]
CMD ["python", "-m", "chatsite.worker", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers",
     "--access-log", "/dev/null", "chatsite.asgi:application"]
