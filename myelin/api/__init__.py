"""The thin HTTP layer: parse, call one service, serialize; one module per spec section."""
