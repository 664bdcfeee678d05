# Production image: daphne serving the ASGI app; static files served by WhiteNoise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs a key to import settings; it is not used for anything else here.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0

RUN useradd --create-home --uid 1000 app && mkdir -p /app/media && chown app /app/media
USER app

EXPOSE 8000
# Migrations run at start so a fresh database works; safe to repeat on every start.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne --bind 0.0.0.0 --port 8000 --proxy-headers chatsite.asgi:application"]
