"""Panel sources: files on disk, the synthetic panel, and the Binance archive (`binance`)."""

from lazyflow.data import binance
from lazyflow.data.panel import PANEL_COLUMNS, scan_panel
from lazyflow.data.synthetic import synthetic_panel

__all__ = ["PANEL_COLUMNS", "binance", "scan_panel", "synthetic_panel"]
