"""Side-by-side benchmark harness: Myelin beside Synapse on loopback (no spec section)."""
