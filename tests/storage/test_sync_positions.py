"""``SyncStore.stream_positions`` (no spec section: the positions behind ``/sync`` tokens) reads
in one statement what each persisted stream's own ``current_position`` reads."""

from myelin.storage import Database, make_stores
from myelin.storage.device_lists import DeviceListStore
from myelin.storage.to_device import ToDeviceStore

ALICE = "@alice:example.org"


async def test_one_read_gives_every_persisted_stream_position(database: Database) -> None:
    stores = make_stores(database)
    device_lists, to_device = DeviceListStore(database), ToDeviceStore(database)
    await stores.account_data.set_account_data(ALICE, None, "org.example", {})
    await stores.presence.set_presence(
        ALICE, "online", None, last_active_ts=1, currently_active=True
    )
    await stores.presence.set_presence(
        ALICE, "offline", None, last_active_ts=2, currently_active=False
    )
    await device_lists.add_device_list_change(ALICE)
    positions = await stores.sync.stream_positions()
    assert positions["events"] == await stores.events.get_max_stream_ordering()
    assert positions["account_data"] == await stores.account_data.current_position() == 1
    assert positions["presence"] == await stores.presence.current_position() == 2
    assert positions["receipts"] == await stores.receipts.current_position()
    assert positions["device_lists"] == await device_lists.current_position() == 1
    assert positions["to_device"] == await to_device.current_position()
