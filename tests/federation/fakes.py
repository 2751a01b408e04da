"""An injected DNS resolver: names mapped to loopback addresses and SRV records."""

from myelin.federation.discovery import SrvRecord


class FakeDns:
    """Answers from two dictionaries; records every lookup."""

    def __init__(self) -> None:
        self.hosts: dict[str, list[str]] = {}
        self.srv: dict[str, list[SrvRecord]] = {}
        self.lookups: list[str] = []

    async def resolve_srv(self, name: str) -> list[SrvRecord]:
        self.lookups.append(f"SRV {name}")
        return list(self.srv.get(name, []))

    async def resolve_host(self, host: str) -> list[str]:
        self.lookups.append(f"A {host}")
        return list(self.hosts.get(host, []))
