"""A short demo until the command line lands: build the carry plan on the synthetic panel."""

import lazyflow as lf

panel = lf.synthetic_panel(n_symbols=300, n_days=1600, seed=0)
frame = lf.presets.carry()(panel.lazy()).collect()
print(frame.tail(5))
