"""``python -m myelin``: the same as the ``myelin`` command."""

from myelin.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
