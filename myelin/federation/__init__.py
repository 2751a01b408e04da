"""Outbound server-to-server HTTP (spec: Server-Server API): discovery, X-Matrix signing, typed
calls, operator policy and destination backoff.

What other layers use: ``FederationClient`` (``client``), ``FederationPolicy`` (``policy``),
``ServerResolver`` and ``DnsResolver`` (``discovery``), ``sign_request`` and
``verify_request_signature`` (``request_signing``), ``DestinationBackoff`` (``backoff``).
"""
