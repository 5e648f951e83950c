# Two commands on a fresh machine:
#   make run   installs into .venv and serves the chat on http://127.0.0.1:8000 (demo user printed)
#   make test  installs into .venv (and Chromium, axe-core and an OpenID Connect provider for the browser tests) and runs the whole suite
# DATABASE_URL / REDIS_URL are honoured when set (the CI points them at PostgreSQL and Redis).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AXE := tools/a11y/node_modules/axe-core/axe.min.js
OIDC_PROVIDER := tools/oidc/node_modules/oidc-provider/package.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run serve test lint format code-css messages bench bench-quick reliability clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/python $(AXE) $(OIDC_PROVIDER)
	$(BIN)/pip install --quiet -r requirements-dev.txt

# axe-core, pinned in tools/a11y/package-lock.json, for the accessibility browser test
# (conversations/tests/test_a11y_browser.py). npm comes with Node.js (.ci/system-deps.sh installs both).
$(AXE): tools/a11y/package.json tools/a11y/package-lock.json
	command -v npm >/dev/null 2>&1 || bash .ci/system-deps.sh
	cd tools/a11y && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# oidc-provider (panva's), pinned in tools/oidc/package-lock.json: the real OpenID Connect provider the
# single sign-on tests run on loopback (tools/oidc/provider.mjs, accounts/tests/test_oidc_browser.py).
$(OIDC_PROVIDER): tools/oidc/package.json tools/oidc/package-lock.json
	command -v npm >/dev/null 2>&1 || bash .ci/system-deps.sh
	cd tools/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py ensure_demo_user --staff --base-url http://$(HOST):$(PORT)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production-style: collected static files served by whitenoise, several ASGI workers.
# Limits for clients that hold sockets (README, "Production"; docs/live.md, "Slow clients"):
#   --timeout-keep-alive 5     a connection idle between requests is closed after 5 s (uvicorn's default, made explicit)
#   --limit-concurrency 5000   per worker: 2.5 x the 2,000 streams a worker is sized for; past it 503, not memory
#                              or file descriptors running out (ulimit -n must be above it)
# Request bodies have DJANGO_REQUEST_BODY_TIMEOUT_SECONDS (408); request heads are the reverse proxy's job.
serve: install
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/uvicorn chatsite.asgi:application --host $(HOST) --port $(PORT) --workers $${WEB_CONCURRENCY:-4} --proxy-headers \
		--timeout-keep-alive 5 --limit-concurrency 5000

test: install-dev
	bash .ci/system-deps.sh
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=90

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The colours of highlighted code (static/css/code.css, committed) from the Pygments styles named in
# conversations/markdown.py: run after changing a style or upgrading Pygments.
code-css: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py code_css

# The page's languages (README.md, "Languages"): extract the marked text into locale/<language>/LC_MESSAGES/django.po
# (new entries come untranslated: translate them, then run it again) and compile the .mo files, which are
# committed so that `make run` needs no gettext. GNU gettext comes from .ci/system-deps.sh when missing.
I18N_IGNORE := --ignore=.venv --ignore=tools --ignore=bench --ignore=staticfiles --ignore=test-artifacts --ignore=node_modules
messages: install
	command -v msgfmt >/dev/null 2>&1 || bash .ci/system-deps.sh
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemessages --all --add-location file --no-obsolete $(I18N_IGNORE) --ignore='*/tests/*'
	DJANGO_DEBUG=1 $(BIN)/python manage.py compilemessages $(I18N_IGNORE)

# Benchmarks (BENCHMARKS.md; docs/benchmarks.md): the production server on PostgreSQL under wrk,
# against a psycopg baseline measured in the same run. bench-quick is a smoke run of about 3 minutes
# (report in bench/results/BENCHMARKS-quick.md); bench takes about 15 minutes.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chat_bench_run

bench: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) bash .ci/system-deps.sh
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench

bench-quick: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) bash .ci/system-deps.sh
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench --quick

# Faults and load (RELIABILITY.md, "Faults and load"): the fault tests on PostgreSQL, then their
# figures written into RELIABILITY.md. About five minutes; the Redis ones use TEST_REDIS_URL (default db 15).
RELIABILITY_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chat

reliability: install-dev
	DATABASE_URL=$(RELIABILITY_DATABASE_URL) TEST_REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
		$(BIN)/pytest -q conversations/tests/test_faults_*.py
	$(BIN)/python -m conversations.tests.reliability

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .coverage htmlcov test-artifacts tools/a11y/node_modules tools/oidc/node_modules
