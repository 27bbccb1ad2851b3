"""A static files finder serving plotly.js from the installed `plotly` Python package.

The dashboards load plotly.js from our own origin, never a CDN, so they work offline. The
file is the one plotly.py ships (`plotly/package_data/plotly.min.js`); it is exposed as
`vendor/plotly/plotly-<version>.min.js`, the version in the name so that upgrading plotly
changes the URL. Works wherever Django's finders are used: `collectstatic` (production,
served by WhiteNoise from STATIC_ROOT), WhiteNoise's finder mode under `runserver`, and the
test live server.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import plotly
from django.contrib.staticfiles import utils
from django.contrib.staticfiles.finders import BaseFinder
from django.core import checks
from django.core.files.storage import FileSystemStorage
from plotly.offline import get_plotlyjs_version

PREFIX = "vendor/plotly"
SOURCE_NAME = "plotly.min.js"


@cache
def plotly_js_name() -> str:
    """The file name plotly.js is served under, e.g. 'plotly-3.7.0.min.js'."""
    return f"plotly-{get_plotlyjs_version()}.min.js"


def plotly_js_path() -> str:
    """The static path of plotly.js, for `{% static %}`: 'vendor/plotly/plotly-<version>.min.js'."""
    return f"{PREFIX}/{plotly_js_name()}"


def _package_data() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data"


class _RenamingStorage(FileSystemStorage):
    """The package_data directory, where the served name maps to plotly.min.js."""

    prefix = PREFIX

    def path(self, name: str) -> str:
        return super().path(SOURCE_NAME if name == plotly_js_name() else name)


class PlotlyJsFinder(BaseFinder):
    """Finds exactly one file: plotly.js of the installed plotly package (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = _RenamingStorage(location=str(_package_data()))

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        """An error when the plotly package has no plotly.min.js (a broken install)."""
        if not (_package_data() / SOURCE_NAME).is_file():
            return [
                checks.Error(
                    f"plotly.js not found at {_package_data() / SOURCE_NAME}",
                    hint="Reinstall the plotly package (pip install -r requirements.txt).",
                    id="dashboards.E001",
                )
            ]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs) -> str | list[str]:
        """The absolute path of plotly.js for its static path; [] for anything else."""
        if path == plotly_js_path():
            found = self.storage.path(plotly_js_name())
            if Path(found).is_file():
                return [found] if find_all else found
        return []

    def list(self, ignore_patterns: list[str] | None):
        """Yield (name, storage) for plotly.js; the storage's `prefix` places it under vendor/plotly."""
        if utils.matches_patterns(plotly_js_name(), ignore_patterns or []):
            return
        yield plotly_js_name(), self.storage
