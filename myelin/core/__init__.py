"""Pure protocol core: no I/O, no asyncio, no clock, no database."""
