"""Application services (spec: Application Service API): registrations and identity assertion,
the transaction queue pushed to each service, queries, pings and third-party networks."""

from myelin.services.appservice.client import AppserviceClient, AppserviceUnreachableError
from myelin.services.appservice.queries import AppserviceNetworks, AppserviceQueries
from myelin.services.appservice.registry import AppserviceRegistry, Assertion
from myelin.services.appservice.transactions import AppserviceTransactions

__all__ = [
    "AppserviceClient",
    "AppserviceNetworks",
    "AppserviceQueries",
    "AppserviceRegistry",
    "AppserviceTransactions",
    "AppserviceUnreachableError",
    "Assertion",
]
