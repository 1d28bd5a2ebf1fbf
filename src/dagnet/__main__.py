"""``python -m dagnet``: the ``dagnet`` command line (see :mod:`dagnet.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
