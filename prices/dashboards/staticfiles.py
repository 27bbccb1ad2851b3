"""A static files finder serving plotly.js: the smallest bundle that draws our traces.

The dashboards load plotly.js from our own origin, never a CDN, so they work offline. They
draw scatter (lines), bar (volume) and candlestick traces, which plotly.js's "finance"
partial bundle holds at a quarter of the full bundle's size (1.2 MB instead of 4.9 MB,
about 370 KB compressed). That bundle is the npm package `plotly.js-finance-dist-min`,
pinned in package.json at the plotly.js version the installed plotly.py writes figures for;
`npm ci` (bin/setup) installs it into node_modules/. When it is missing (node_modules not
installed), the full bundle plotly.py ships (`plotly/package_data/plotly.min.js`) is served
instead and the system check warns.

The file is exposed as `vendor/plotly/<bundle>-<version>.min.js`. Works wherever Django's
finders are used: `collectstatic` (production: hashed, compressed, served by WhiteNoise from
STATIC_ROOT with a year's cache lifetime), WhiteNoise's finder mode under `runserver`, and
the test client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import plotly
from django.conf import settings
from django.contrib.staticfiles import utils
from django.contrib.staticfiles.finders import BaseFinder
from django.core import checks
from django.core.files.storage import FileSystemStorage
from plotly.offline import get_plotlyjs_version

PREFIX = "vendor/plotly"
PARTIAL_PACKAGE = "plotly.js-finance-dist-min"
PARTIAL_FILE = "plotly-finance.min.js"


@dataclass(frozen=True, slots=True)
class PlotlyBundle:
    """The plotly.js file to serve: where it is, the name it is served under, its version."""

    source: Path
    name: str
    version: str
    partial: bool


def _partial_dir() -> Path:
    return Path(settings.BASE_DIR) / "node_modules" / PARTIAL_PACKAGE


def _full_source() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@cache
def plotly_bundle() -> PlotlyBundle:
    """The partial bundle from node_modules when installed, else plotly.py's full bundle."""
    source = _partial_dir() / PARTIAL_FILE
    if source.is_file():
        version = json.loads((_partial_dir() / "package.json").read_text())["version"]
        return PlotlyBundle(source, f"plotly-finance-{version}.min.js", version, partial=True)
    version = get_plotlyjs_version()
    return PlotlyBundle(_full_source(), f"plotly-{version}.min.js", version, partial=False)


def plotly_js_name() -> str:
    """The file name plotly.js is served under, e.g. 'plotly-finance-3.7.0.min.js'."""
    return plotly_bundle().name


def plotly_js_path() -> str:
    """The static path of plotly.js, for `{% static %}`: 'vendor/plotly/<name>'."""
    return f"{PREFIX}/{plotly_js_name()}"


class _RenamingStorage(FileSystemStorage):
    """The bundle's directory, where the served name maps to the bundle's file."""

    prefix = PREFIX

    def path(self, name: str) -> str:
        bundle = plotly_bundle()
        return super().path(bundle.source.name if name == bundle.name else name)


class PlotlyJsFinder(BaseFinder):
    """Finds exactly one file: the plotly.js bundle (see module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = _RenamingStorage(location=str(plotly_bundle().source.parent))

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        """A warning when the partial bundle is missing or not plotly.py's plotly.js version."""
        bundle = plotly_bundle()
        if not bundle.source.is_file():
            return [
                checks.Error(
                    f"plotly.js not found at {bundle.source}",
                    hint="Run bin/setup (npm ci installs plotly.js-finance-dist-min).",
                    id="dashboards.E001",
                )
            ]
        if not bundle.partial:
            return [
                checks.Warning(
                    f"{PARTIAL_PACKAGE} is not installed; serving the full plotly.js (4 times larger)",
                    hint="Run bin/setup (npm ci).",
                    id="dashboards.W001",
                )
            ]
        if bundle.version != get_plotlyjs_version():
            return [
                checks.Warning(
                    f"{PARTIAL_PACKAGE} is {bundle.version}, the plotly package writes figures for "
                    f"plotly.js {get_plotlyjs_version()}",
                    hint="Pin the same version in package.json and requirements.txt.",
                    id="dashboards.W002",
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
