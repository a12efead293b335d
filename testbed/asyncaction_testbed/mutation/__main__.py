"""``python -m asyncaction_testbed.mutation``: the entry point of ``make mutation``."""

import sys

from asyncaction_testbed.mutation.run import main

sys.exit(main())
