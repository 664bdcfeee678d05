# Two commands: `make run` serves the site, `make test` passes the tests.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Local development defaults; production sets these in the environment instead.
export DEBUG ?= 1
export DJANGO_SETTINGS_MODULE ?= chatsite.settings

.PHONY: run manage test lint install install-dev bench bench-compare bench-store bench-streams bench-insights clean messages

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.stamp-runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.stamp-runtime

install: $(VENV)/.stamp-runtime
install-dev: $(VENV)/.stamp-dev

# Local settings, written once: a generated SECRET_KEY and DEBUG=1 (git-ignored).
.env: | $(PY)
	$(PY) scripts/make_env.py .env

run: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py ensure_demo_user
	$(PY) -m chatsite.worker --bind 127.0.0.1 --port $(PORT) chatsite.asgi:application

# Any manage.py command with the virtualenv and `.env`: make manage ARGS="purge_threads --user demo"
manage: | $(PY) .env
	$(PY) manage.py $(ARGS)

# Translations: refresh locale/*/LC_MESSAGES/*.po from the templates and the chat client's
# JavaScript, then compile them (needs GNU gettext). The compiled .mo files are committed,
# so running the site needs no gettext.
messages: install
	$(PY) manage.py makemessages --all --ignore=$(VENV) --ignore=staticfiles --ignore=tests
	$(PY) manage.py makemessages --all -d djangojs --ignore=$(VENV) --ignore=staticfiles --ignore=tests --ignore='static/chat/vendor/*'
	$(PY) manage.py compilemessages --ignore=$(VENV)

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev lint
	$(VENV)/bin/pytest

# The README's Performance figures: CPU per request of a daphne worker against the SDK's
# in-process floor, keyset pages, SQLite under 50 and 200 users, the admin at scale (on
# PostgreSQL when DATABASE_URL names one; BENCH_ARGS="--admin-items 1000000" for 1 M items).
bench: install-dev
	DEBUG=0 $(PY) scripts/bench.py $(BENCH_ARGS)

# This tree's CPU per request against another revision's (AGAINST, HEAD by default), two
# workers side by side on PostgreSQL (DATABASE_URL): for changes too small for one run.
AGAINST ?= HEAD
bench-compare: install-dev
	DEBUG=0 $(PY) scripts/bench_compare.py --against $(AGAINST) $(BENCH_ARGS)

# Latency of paging and of a turn as data grows (a throwaway SQLite database by default).
bench-store: install-dev
	$(PY) scripts/bench_store.py

# 1,000 answers streaming at once from one worker, on PostgreSQL (127.0.0.1:5432).
bench-streams: install-dev
	$(PY) scripts/bench_streams.py

# Insights over 1,000,000 turns on PostgreSQL (127.0.0.1:5432).
bench-insights: install-dev
	$(PY) scripts/bench_insights.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
