"""lazyflow's version (one place, imported by the package, the CLI and the downloader)."""

__version__ = "0.1.0"
