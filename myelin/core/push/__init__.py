"""Push rules (spec: Client-Server API, "Push Notifications", "Push Rules").

- ``rules``: rule records, kinds, errors and the predefined server-default rules.
- ``ruleset``: a user's customisations, validation of client rule bodies, the merged ruleset and
  the pure edits behind the push rules API.
- ``evaluation``: conditions, ``evaluate`` and the helpers that interpret actions.
- ``glob`` and ``property_paths``: the appendices' glob matching and dot-separated paths.
"""
