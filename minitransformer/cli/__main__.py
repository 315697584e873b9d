"""``python -m minitransformer.cli ...``: the same as the ``minitransformer`` command."""
import sys

from . import main

if __name__ == "__main__":  # not when merely imported (e.g. by a walk over the package)
    sys.exit(main())
