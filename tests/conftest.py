"""Shared pytest configuration: the fixtures of the real test substrate."""

pytest_plugins = [
    "tests.substrate.fixtures",
    "tests.substrate.gopeers_fixtures",
    "tests.substrate.operator_fixtures",
    "tests.substrate.engine_fixtures",
]
