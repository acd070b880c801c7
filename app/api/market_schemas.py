"""Response schemas of the village energy market: days, a day, its posted offers, its clearing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from coopchain.app.api.schemas import HASH_EXAMPLE, TX_EXAMPLE, Page, example, page_example

Kind = Literal["solar", "wind", "thermal", "consumer", "storage"]
_DAY = {"market": "rice-village-2026-10-03", "cooperative": "green-valley", "periods": 24, "period_minutes": 60, "opened": 5, "gate": 7,
        "participants": 7, "cleared": 8, "url": "/market/days/rice-village-2026-10-03"}


class DaySummaryPublic(BaseModel):
    model_config = example(_DAY)
    market: str
    cooperative: str = Field(description="the cooperative whose manager opened the day")
    periods: int
    period_minutes: int = Field(description="15, 30 or 60")
    opened: int = Field(description="the height of the block that opened the day")
    gate: int = Field(description="the last block height that may carry offers")
    participants: int = Field(description="participants who posted an offer or bid")
    cleared: int | None = Field(description="the height of the accepted clearing, null until cleared")
    url: str


class DaysPublic(Page[DaySummaryPublic]):
    model_config = page_example(_DAY, 1)


class DayPublic(BaseModel):
    model_config = example({
        "market": "rice-village-2026-10-03", "cooperative": "green-valley", "periods": 24, "period_minutes": 60, "price_floor": "-0.5",
        "opened": 5, "gate": 7, "participants": ["roof-1", "battery"], "kinds": {"roof-1": "solar", "battery": "storage"},
        "initial_soc": {"battery": 40.0}, "cleared": 8, "offers": "/market/days/rice-village-2026-10-03/offers",
        "clearing": "/market/days/rice-village-2026-10-03/clearing"})
    market: str
    cooperative: str
    periods: int
    period_minutes: int
    price_floor: str = Field(description="per kWh, a decimal string ≤ 0: the price at which energy nobody can take is disposed of")
    opened: int
    gate: int
    participants: list[str] = Field(description="those who posted, in first-post order")
    kinds: dict[str, Kind]
    initial_soc: dict[str, float] = Field(description="each battery's state of charge before the first period, kWh")
    cleared: int | None = Field(description="the height of the accepted clearing, null until cleared")
    offers: str
    clearing: str


_OFFER = {"participant": "roof-1", "kind": "solar", "owner": "ed25519:" + "cd" * 32, "data": {"id": "roof-1", "type": "solar", "offer_price": 0},
          "offer": {"availability": [0, 0, 0.8, 2.1]}, "height": 6, "transaction": TX_EXAMPLE}


class OfferPublic(BaseModel):
    model_config = example(_OFFER)
    participant: str
    kind: Kind
    owner: str = Field(description="the key that registered the participant and posts for it")
    data: dict[str, Any] = Field(description="the registered technical data (docs/market.md): costs, limits, capacities; kW, kWh, per kWh")
    offer: dict[str, Any] = Field(description="the day's series: availability (kW), bids [{price, quantity}] and inflexible_load (kW); empty for thermal and storage")
    height: int = Field(description="the block of its last post")
    transaction: str


class OffersPublic(Page[OfferPublic]):
    model_config = page_example(_OFFER, 7)


_SETTLEMENT = {"participant": "battery", "kind": "storage", "energy": [5.0, -4.0], "energy_exact": ["5", "-4"], "payment": [0.5, -0.8],
               "payment_exact": ["1/2", "-4/5"], "total_payment": -0.3, "total_payment_exact": "-3/10", "value": "0", "surplus": "3/10", "may_stay_out": True}


class SettlementPublic(BaseModel):
    """One participant's trades and payments per period (or the disposal account, `market:disposal`)."""

    model_config = example(_SETTLEMENT)
    participant: str
    kind: str = Field(description="solar, wind, thermal, consumer, storage, or disposal")
    energy: list[float] = Field(description="kWh bought (+) or sold (−) per period")
    energy_exact: list[str] = Field(description="the same, exact fractions as the contract checked them")
    payment: list[float] = Field(description="paid (+) or received (−) per period, in the market's currency")
    payment_exact: list[str]
    total_payment: float
    total_payment_exact: str
    value: str = Field(description="what it consumed at its bids minus what it produced at its offers, exact")
    surplus: str = Field(description="value − Σ payment, exact")
    may_stay_out: bool = Field(description="individual rationality is guaranteed (and was checked) for it")


class ClearingPublic(BaseModel):
    """A cleared market day: the uniform price per period, each participant's trades and payments, each battery's state of charge."""

    model_config = example({
        "market": "rice-village-2026-10-03", "periods": 2, "period_minutes": 60, "transaction": TX_EXAMPLE, "height": 8,
        "sender": "ed25519:" + "cd" * 32, "market_hash": HASH_EXAMPLE, "welfare": 12.5, "welfare_exact": "25/2", "budget_exact": "0",
        "unique_prices": True, "prices": [0.1, 0.2], "prices_exact": ["1/10", "1/5"], "interval": [["1/10", "1/10"], ["1/5", "1/5"]],
        "held": [], "state_of_charge": {"battery": [44.75, 40.0]}, "state_of_charge_exact": {"battery": ["179/4", "40"]},
        "initial_soc": {"battery": 40.0}, "storage_value": {"battery": ["1/10", "1/5"]}, "settlements": [_SETTLEMENT]})
    market: str
    periods: int
    period_minutes: int
    transaction: str = Field(description="the accepted market.clear transaction")
    height: int
    sender: str
    market_hash: str = Field(description="SHA-256 of the posted market document the clearing used")
    welfare: float
    welfare_exact: str
    budget_exact: str = Field(description="Σ of every payment, the disposal account included: 0 exactly")
    unique_prices: bool
    prices: list[float] = Field(description="the uniform price per period, per kWh (the midpoint of its interval where not unique)")
    prices_exact: list[str]
    interval: list[list[str]] = Field(description="per period: the least and greatest clearing price, exact")
    held: list[list[Any]] = Field(description="battery sides held at zero by the price rule: [participant, period, charge|discharge]")
    state_of_charge: dict[str, list[float]] = Field(description="kWh in store at the end of each period, per battery")
    state_of_charge_exact: dict[str, list[str]]
    initial_soc: dict[str, float] = Field(description="kWh in store before the first period, per battery")
    storage_value: dict[str, list[str]] = Field(description="marginal value of stored energy per battery and period, per kWh, exact")
    settlements: list[SettlementPublic] = Field(description="participants in posting order, then the disposal account")


_PARTICIPANT = {"id": "battery", "kind": "storage", "owner": "ed25519:" + "cd" * 32, "registered": 7, "url": "/market/participants/battery",
                "data": {"id": "battery", "type": "storage", "energy_capacity": 40, "charge_power": 10, "discharge_power": 10, "charge_efficiency": 0.95,
                         "discharge_efficiency": 0.95, "standing_loss": 0.001, "initial_soc": 10}}


class ParticipantPublic(BaseModel):
    model_config = example(_PARTICIPANT)
    id: str
    kind: Kind
    owner: str = Field(description="the key that registered it and alone posts its offers")
    data: dict[str, Any] = Field(description="its registered technical data (docs/market.md): costs, limits, capacities; kW, kWh, per kWh")
    registered: int = Field(description="the height of the block that registered it")
    url: str


class ParticipantsPublic(Page[ParticipantPublic]):
    model_config = page_example(_PARTICIPANT, 7)
