"""`python -m blacklist_rules`: the same command line as `blacklist-rules`."""

import sys

from .cli import main

sys.exit(main())
