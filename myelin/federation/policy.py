"""Who this server federates with (Myelin operator control; Synapse's
``federation_domain_whitelist``; no spec section).

One decision for inbound requests (the X-Matrix origin), outbound requests (the destination),
invites and joins: federation must be enabled, the server must be in
``federation_domain_whitelist`` when that list is set (Synapse's meaning: exact server names; an
empty list federates with nobody), and it must pass ``federation.allow`` / ``federation.deny``
(globs, ports ignored; a deny match always wins).
"""

from dataclasses import dataclass, field

from myelin.core.server_acl import AccessControl


@dataclass(frozen=True)
class FederationPolicy:
    """The operator's federation switch and lists."""

    enabled: bool = True
    domain_whitelist: frozenset[str] | None = None
    access: AccessControl = field(default_factory=AccessControl)

    def permits(self, server_name: str) -> bool:
        """Whether we may exchange requests with ``server_name`` (either direction)."""
        if not self.enabled:
            return False
        if self.domain_whitelist is not None and server_name not in self.domain_whitelist:
            return False
        return self.access.permits(server_name)
