"""``python -m fasterapi module:app`` (see fasterapi.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
