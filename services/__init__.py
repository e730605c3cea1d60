"""The four Succ'ess services and the plumbing they share (``services.common``)."""
