"""``python -m minitransformer``: the same as the ``minitransformer`` command."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
