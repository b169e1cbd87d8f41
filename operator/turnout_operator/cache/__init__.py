"""What the operator keeps in memory between passes, behind one door.

The cached bodies of owned objects (`children`), the child objects last built and
which of them were last found in sync, each Router's current version row and its
RouterVersion mirrors, all packed (`packing`) to keep a thousand Routers in about
a hundred MB. `reconcile/` reads a Router's state through `routers.RouterCache`
and never imports the modules that keep it.
"""

from turnout_operator.cache.mirrors import Mirrors
from turnout_operator.cache.router_object import RouterObject
from turnout_operator.cache.routers import ChildrenPlan, RouterCache, previous_status
from turnout_operator.cache.writer import ChildWriter

__all__ = [
    "ChildWriter",
    "ChildrenPlan",
    "Mirrors",
    "RouterCache",
    "RouterObject",
    "previous_status",
]
