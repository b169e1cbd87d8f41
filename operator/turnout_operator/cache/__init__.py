"""What the operator keeps in memory between passes, behind one door.

The cached bodies of owned objects (`children`), the child objects last built and
which of them were last found in sync, each Router's current version row and its
RouterVersion mirrors, all packed (`packing`) to keep a thousand Routers in about
a hundred MB. `reconcile/` reads a Router's state through `routers.RouterCache`
and never imports the modules that keep it.
"""
