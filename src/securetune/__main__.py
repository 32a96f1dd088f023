"""``python -m securetune`` is the same as the ``securetune`` command."""

from securetune.cli.main import main

if __name__ == "__main__":
    main()
