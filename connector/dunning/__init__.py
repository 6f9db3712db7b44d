"""Dunning: the Dutch collection law the engine obeys and, later, the policy that uses it.

`connector.dunning.law` holds the statutory rules as pure functions (collection costs, the
consumer 14-day letter, statutory interest, the order in which payments are applied and the
betalingskenmerk); `connector.dunning.calendar` holds the dates: Dutch public holidays, the
postal delivery presumption and the Algemene termijnenwet.
"""
