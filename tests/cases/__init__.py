"""Example inputs shared by tests of different tiers, so each tier checks the same cases."""
