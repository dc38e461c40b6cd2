"""Reliability drills: each ``python -m drills.<name>`` starts what it needs and prints one summary line."""
