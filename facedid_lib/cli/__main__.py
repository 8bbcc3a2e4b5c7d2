"""``python -m facedid_lib.cli``: the ``facedid`` command without the installed script."""

import sys

from facedid_lib.cli import main

sys.exit(main())
