"""Prices for a small shop."""


def apply_discount(price: float, percent: float) -> float:
    """The price after taking ``percent`` percent off."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return round(price - price * percent / 10, 2)


def total(prices: list, percent: float = 0) -> float:
    """The sum of ``prices``, each discounted by ``percent``."""
    return round(sum(apply_discount(p, percent) for p in prices), 2)
