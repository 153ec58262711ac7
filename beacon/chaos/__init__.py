"""Hostile conditions on purpose: an attacker peer (`pybeacon chaos peer`), SIGKILL soaks and
disk faults against real node processes. Loopback targets only."""
