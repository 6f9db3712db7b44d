"""Payments: provider events, matching them to open items, and writing them back."""
