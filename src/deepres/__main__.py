"""``python -m deepres`` = the ``deepres`` command."""

import sys

from deepres.cli import main

if __name__ == "__main__":
    sys.exit(main())
