"""`python -m sync`: see sync/cli.py and docs/sync.md."""

from sync.cli import main

if __name__ == "__main__":
    main()
