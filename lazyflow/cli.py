"""Placeholder: the command line is being written."""


def main() -> int:
    raise SystemExit("lazyflow: the command line is not written yet")
