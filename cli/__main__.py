"""`python -m cli`: the `cape` command without the console script (used by `cape dev`)."""

from cli.main import main

if __name__ == "__main__":
    main()
