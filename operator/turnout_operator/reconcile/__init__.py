"""One pass over one Router, and the pure decisions it is made of.

`reconciler` runs the pass (validate, ask the engine, record the version, apply,
status); `verdicts`, `status` and `rollout` decide (pure); `publish` writes the
status and posts Events, with `pacing` deciding which writes can wait; `mirror`
keeps the RouterVersion objects; `admission` holds the webhook's checks.
"""
