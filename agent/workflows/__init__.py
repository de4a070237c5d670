"""Workflows on the person's machine: synced from the server, approved here, triggered by file events and
schedules, run by the agent, recorded locally and reported as ``run`` events."""
