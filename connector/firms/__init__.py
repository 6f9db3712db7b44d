"""Firms (tenants), their users and roles, grants of administrations, and the audit log."""
