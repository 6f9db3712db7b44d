"""The HTTP edge: payment-provider and ledger callbacks (built by the webhooks issue).

Nothing here yet; the package exists so that the distribution's layout is fixed from the
start and third parties can rely on it.
"""
