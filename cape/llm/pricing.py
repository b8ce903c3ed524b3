"""The price table: what a call cost, from its token counts (US dollars per million tokens).

Built-in prices cover common models; `CAPE_LLM_PRICES` (JSON) and `CAPE_LLM_PRICES_FILE`
(YAML or JSON) add to or override them. A model without a price costs 0 and is reported as
unpriced, never guessed.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from cape.errors import InvalidInput
from cape.llm_settings import Price
from cape.settings import Settings

# Public list prices (per 1M tokens) as of 2026-11; operators override them in settings.
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "o3-mini": Price(input=1.10, output=4.40),
    "claude-3.5-haiku": Price(input=0.80, output=4.00),
    "claude-3.5-sonnet": Price(input=3.00, output=15.00),
}
_TABLE = TypeAdapter(dict[str, Price])


def load_prices_file(path: Path) -> dict[str, Price]:
    """Read a YAML/JSON price file; a bad file is an InvalidInput naming the model."""
    try:
        raw = yaml.safe_load(path.read_text())
        return _TABLE.validate_python(raw or {})
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read the price file {path}: {exc}") from exc
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        raise InvalidInput(f"bad price file {path}: {', '.join(fields)}") from exc


class PriceTable:
    """Prices by model name; `provider/model` names also match their bare model name."""

    def __init__(self, settings: Settings) -> None:
        self.prices = dict(BUILTIN_PRICES)
        if settings.llm_prices_file is not None:
            self.prices.update(load_prices_file(settings.llm_prices_file))
        self.prices.update(settings.llm_prices)

    def price(self, model: str) -> Price | None:
        """The price of `model`, trying `openai/gpt-4o` as given, then as `gpt-4o`."""
        if model in self.prices:
            return self.prices[model]
        return self.prices.get(model.rsplit("/", 1)[-1])

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for one call, or None when the model has no price."""
        price = self.price(model)
        if price is None:
            return None
        return round((prompt_tokens * price.input + completion_tokens * price.output) / 1e6, 10)
