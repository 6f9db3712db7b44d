"""Channels deliver rendered dunning letters: e-mail, PDF letter, call task, hand-over, outbox."""
