"""`python -m turnout_router`: the router pod's entrypoint.

The router takes no arguments: its settings are environment variables with the
ROUTER_ prefix (ROUTER_CONFIG_FILE, the router config the operator wrote, is
required); `--help` lists them.
"""

import sys

if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
    from turnout_router.settings import RouterSettings

    print("usage: python -m turnout_router\n")
    print(__doc__)
    for name, field in RouterSettings.model_fields.items():
        print(f"  ROUTER_{name.upper()}: {field.description or ''}")
    sys.exit(0)

from turnout_router.main import main

sys.exit(main())
