"""`python -m cape.cli`: the `cape` command without the console script (used by `cape dev`)."""

from cape.cli.main import main

if __name__ == "__main__":
    main()
