"""One module per schema revision; Alembic loads them by file (it skips this one).

New revisions are written by hand after ``r0001_routers_and_versions``: set
``revision``, ``down_revision`` to the previous one, and both ``upgrade`` and
``downgrade``.
"""
