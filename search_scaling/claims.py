"""A claim on a run, as every layer sees it: the ledger grants and fences claims (`store.ledger`),
the trainers stop when theirs is gone (`training`). The exception lives here, below both, so that
training never imports the store to catch it."""


class LostClaim(RuntimeError):
    """This worker no longer holds the cell it was running: another worker took it over (the claim's
    heartbeat went stale) or the driver released it. The worker must stop without writing."""
