"""Read models for the workspace: each function takes the caller's administration ids (the
scope) and returns frozen dataclasses, so pages never read tables themselves."""
