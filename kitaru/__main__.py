"""``python -m kitaru`` runs the CLI."""

from kitaru.cli import main

if __name__ == "__main__":
    main()
