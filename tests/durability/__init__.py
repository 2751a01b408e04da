"""Durability tests: a real ``myelin run`` process killed with SIGKILL and restarted."""
