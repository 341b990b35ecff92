"""`python -m kccsync` runs the command line."""

from kccsync.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
