"""Panel sources: files on disk, the synthetic panel, and (later) the Binance archive."""

from lazyflow.data.panel import PANEL_COLUMNS, scan_panel
from lazyflow.data.synthetic import synthetic_panel

__all__ = ["PANEL_COLUMNS", "scan_panel", "synthetic_panel"]
