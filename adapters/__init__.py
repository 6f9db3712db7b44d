"""Adapters: everything that talks to the outside world, one subpackage each."""
