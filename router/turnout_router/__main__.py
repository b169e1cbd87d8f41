"""`python -m turnout_router`: the router pod's entrypoint."""

import sys

from turnout_router.main import main

sys.exit(main())
