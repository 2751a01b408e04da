"""Authorization rules, one module per rule group (spec: "Room Versions", "Authorization rules").

The public entry point is ``myelin.core.auth_rules``.
"""
