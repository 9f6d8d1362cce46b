"""Cost of a request in exact decimal USD from the catalogue's price per million tokens."""

from __future__ import annotations

from decimal import Decimal

MILLION = Decimal(1_000_000)
# Ten decimal places: the audit column is numeric(20, 10).
QUANTUM = Decimal("0.0000000001")


def cost_usd(input_tokens: int, output_tokens: int, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Decimal:
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("token counts are never negative")
    total = (Decimal(input_tokens) * input_per_mtok + Decimal(output_tokens) * output_per_mtok) / MILLION
    return total.quantize(QUANTUM)
