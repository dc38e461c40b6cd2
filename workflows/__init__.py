"""Temporal workflows: one module per workflow; ``workflows.registry`` lists them all.

This file stays empty: the sandbox imports it again for every new workflow instance.
"""
