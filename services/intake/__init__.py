"""Intake: applications of mentees and mentors, screening, routing, interviews, vault."""
