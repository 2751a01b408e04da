"""Async application logic: protocol decisions from myelin.core plus store I/O; no HTTP types."""
