"""Alembic migrations of the versions store, shipped inside the package.

The operator image and ``python -m turnout_operator db upgrade`` run them from here,
configured in code (:mod:`turnout_operator.store.migrate`), so no ``alembic.ini`` is
needed at run time.
"""
