"""Cost of a request in exact decimal USD from the catalogue's price per million tokens."""

from __future__ import annotations

from decimal import Decimal

MILLION = Decimal(1_000_000)
# Ten decimal places: the audit column is numeric(20, 10).
QUANTUM = Decimal("0.0000000001")


def cost_usd(
    input_tokens: int,
    output_tokens: int,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_read_per_mtok: Decimal | None = None,
    cache_write_per_mtok: Decimal | None = None,
) -> Decimal:
    """``input_tokens`` counts every input token the model read; of those, ``cache_read_tokens`` came from the
    provider's prompt cache and ``cache_write_tokens`` were written to it, priced at their own prices (the input
    price when a model has none). The rest are priced at ``input_per_mtok``."""
    if min(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens) < 0:
        raise ValueError("token counts are never negative")
    if cache_read_tokens + cache_write_tokens > input_tokens:
        raise ValueError("cache read and write tokens are part of the input tokens, never more than them")
    read_price = input_per_mtok if cache_read_per_mtok is None else cache_read_per_mtok
    write_price = input_per_mtok if cache_write_per_mtok is None else cache_write_per_mtok
    uncached = input_tokens - cache_read_tokens - cache_write_tokens
    total = (
        Decimal(uncached) * input_per_mtok
        + Decimal(cache_read_tokens) * read_price
        + Decimal(cache_write_tokens) * write_price
        + Decimal(output_tokens) * output_per_mtok
    ) / MILLION
    return total.quantize(QUANTUM)
