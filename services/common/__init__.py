"""Shared plumbing: settings, clock, event store, outbox relay, consumer base, runtime.

Used by every service; never copied per service.
"""
