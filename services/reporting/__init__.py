"""Reporting: the archive of the whole log and the read models folded from it."""
