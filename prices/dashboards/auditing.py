"""A production-like web server on 127.0.0.1 for audits of the dashboards (page weight, Lighthouse).

`runserver` and Django's test live server serve static files uncompressed from the finders;
production serves what `collectstatic` wrote: hashed names, gzip and brotli copies, a year's
`Cache-Control: immutable` (WhiteNoise). This server does the latter in-process, with DEBUG
off, so the browser tests and `manage.py lighthouse_report` measure what users get.

Only the project's own static files are collected (those of its apps, e.g. the dashboards'
stylesheet, script and icon, and plotly.js): compressing the admin's and the API docs' 40 MB
as well would take a minute, and those pages are not audited (they answer 500 here).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import override_settings
from django.test.testcases import LiveServerThread
from django.utils.functional import empty

STATIC_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
DASHBOARD_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "prices.dashboards.staticfiles.PlotlyJsFinder",
]


def _own_static_dirs() -> list[str]:
    """The static/ directories of the project's own apps (not Django's or third parties')."""
    base = Path(settings.BASE_DIR).resolve()
    dirs = [Path(app.path).resolve() / "static" for app in apps.get_app_configs()]
    return [str(d) for d in dirs if d.is_dir() and d.is_relative_to(base) and ".venv" not in d.parts]


def dashboard_static_settings(static_root: str) -> dict:
    """Settings that make collectstatic write the project's static files as production does."""
    return {
        "STATIC_ROOT": static_root,
        "STATICFILES_DIRS": _own_static_dirs(),
        "STATICFILES_FINDERS": DASHBOARD_FINDERS,
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": STATIC_STORAGE},
        },
    }


class ServerStartError(RuntimeError):
    """The audit server could not listen (e.g. the port is taken)."""


def _plain(app):
    # No static files handler in front: WhiteNoise, in the middleware, serves them as in production.
    return app


@contextmanager
def production_like_server(*, port: int = 0) -> Iterator[str]:
    """Collect static files into a temporary STATIC_ROOT and serve the site at the yielded URL.

    `port` 0 picks a free one. Raises ServerStartError when the server cannot start.
    Settings are overridden for the whole process while the server runs.
    """
    with tempfile.TemporaryDirectory(prefix="cryptotracker-static-") as static_root:
        overrides = override_settings(
            DEBUG=False,
            **dashboard_static_settings(static_root),
            WHITENOISE_AUTOREFRESH=False,
            WHITENOISE_USE_FINDERS=False,
            SECURE_SSL_REDIRECT=False,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        )
        with overrides:
            call_command("collectstatic", interactive=False, verbosity=0)
            staticfiles_storage._wrapped = empty  # read the manifest collectstatic just wrote
            thread = LiveServerThread("127.0.0.1", _plain, port=port)
            thread.daemon = True
            thread.start()
            thread.is_ready.wait()
            if thread.error:
                raise ServerStartError(f"cannot serve on 127.0.0.1:{port}: {thread.error}")
            try:
                yield f"http://127.0.0.1:{thread.port}"
            finally:
                thread.terminate()
                staticfiles_storage._wrapped = empty


# --- Lighthouse -------------------------------------------------------------------------------

LIGHTHOUSE = "node_modules/.bin/lighthouse"
CATEGORIES = ("performance", "accessibility")
CHROME_FLAGS = "--headless=new --no-sandbox"


class LighthouseError(RuntimeError):
    """Lighthouse is missing, failed, or printed no report."""


def lighthouse_scores(
    url: str, *, preset: str = "mobile", chrome_path: str = "/usr/bin/chromium", timeout_s: float = 180
) -> dict[str, int | None]:
    """Lighthouse's scores (0–100) of `url` by category, for the `preset` "mobile" or "desktop".

    None for a category Lighthouse could not score (a metric it could not measure).

    Runs the pinned npm lighthouse (package.json) against Debian's chromium (CHROME_PATH).
    Raises LighthouseError with one line when it is missing, fails or times out.
    """
    binary = Path(settings.BASE_DIR) / LIGHTHOUSE
    if not binary.exists():
        raise LighthouseError(f"{binary} is missing; run bin/setup (npm ci installs lighthouse)")
    command = [
        str(binary),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "CHROME_PATH": chrome_path},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LighthouseError(f"lighthouse took more than {timeout_s:.0f} s on {url}") from None
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LighthouseError(f"lighthouse failed on {url} (exit {done.returncode}): {last}") from None
    if report.get("runtimeError"):
        raise LighthouseError(f"lighthouse on {url}: {report['runtimeError'].get('message')}")
    # A category whose metric could not be measured (e.g. NO_LCP) has no score: None, not 0.
    scores = {name: report["categories"][name]["score"] for name in CATEGORIES}
    return {name: None if score is None else round(score * 100) for name, score in scores.items()}
