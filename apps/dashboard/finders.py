"""Static-files finder serving plotly.js from the pinned `plotly` package (no CDN, no copy)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "dashboard/vendor/plotly.min.js"


def plotly_dir() -> Path | None:
    try:
        import plotly
    except ImportError:  # reported by check(); the pages still render without charts
        return None
    return Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyFinder(BaseFinder):
    """Finds only dashboard/vendor/plotly.min.js, from plotly's package_data directory."""

    def check(self, **kwargs):
        from django.core.checks import Error

        folder = plotly_dir()
        if folder is None or not (folder / "plotly.min.js").is_file():
            return [
                Error(
                    "plotly.min.js not found: pip install -r requirements.txt", id="dashboard.E001"
                )
            ]
        return []

    def find(self, path, find_all=False, **kwargs):
        folder = plotly_dir()
        if path != PLOTLY_STATIC_PATH or folder is None:
            return [] if find_all else None
        match = str(folder / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns):
        folder = plotly_dir()
        if folder is None:
            return
        storage = FileSystemStorage(location=str(folder))
        storage.prefix = "dashboard/vendor"
        yield "plotly.min.js", storage
