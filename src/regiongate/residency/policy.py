"""The residency promise of one stack: where it lives and where inference may run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kept here (not imported from regiongate.config.regions) so the pack works in any CDK app.
_GEOGRAPHY_OF_PREFIX = (
    ("cn-", "CN"),
    ("eu-", "EU"),
    ("us-gov-", "US-GOV"),
    ("us-", "US"),
    ("ca-", "CA"),
    ("sa-", "SA"),
    ("ap-", "APAC"),
    ("me-", "ME"),
    ("il-", "IL"),
    ("af-", "AF"),
    ("mx-", "MX"),
)


def partition_of(aws_region: str) -> str:
    if aws_region.startswith("cn-"):
        return "aws-cn"
    if aws_region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def url_suffix_of(partition: str) -> str:
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


def geography_of(aws_region: str) -> str:
    for prefix, geography in _GEOGRAPHY_OF_PREFIX:
        if aws_region.startswith(prefix):
            return geography
    return "UNKNOWN"


@dataclass(frozen=True)
class ResidencyPolicy:
    """What one stack promises: data at rest in ``home_region`` only, inference only in ``inference_regions``.

    ``account`` is the stack's own account (``None``: whatever ``AWS::AccountId`` is; literal account ids
    in ARNs are then never "own"). ``extra_key_arns`` lists keys outside the template that still count as
    the stack's own (an imported key of the same account and region); empty for regiongate.
    """

    home_region: str
    geography: str
    partition: str
    inference_regions: tuple[str, ...] = ()
    account: str | None = None
    extra_key_arns: tuple[str, ...] = field(default_factory=tuple)
    # The regions the stack may call model providers in (default: its home region alone). A geography profile
    # called there may still process in any of ``inference_regions``.
    call_regions: tuple[str, ...] = ()
    # Foundation models an operator explicitly opted into a wider, named processing area, each with the regions of
    # that area: ((model id, (region, ...)), ...). Only these models may be granted beyond ``inference_regions``.
    widened_models: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def processing_regions_of(self, model_id: str) -> tuple[str, ...]:
        """Where Bedrock may process ``model_id``: ``inference_regions``, or its opted-in area's regions too."""
        for widened, regions in self.widened_models:
            if widened == model_id:
                return tuple(dict.fromkeys((*self.inference_regions, *regions)))
        return self.inference_regions

    def __post_init__(self) -> None:
        if not self.inference_regions:
            object.__setattr__(self, "inference_regions", (self.home_region,))
        object.__setattr__(self, "inference_regions", tuple(self.inference_regions))
        object.__setattr__(self, "call_regions", tuple(self.call_regions) or (self.home_region,))

    @property
    def url_suffix(self) -> str:
        return url_suffix_of(self.partition)

    @classmethod
    def from_region(cls, region: Any) -> ResidencyPolicy:
        """From a :class:`regiongate.config.regions.RegionConfig` (or anything with the same attributes)."""
        return cls(
            home_region=region.aws_region,
            geography=region.geography,
            partition=region.partition,
            inference_regions=tuple(region.inference_regions),
            account=getattr(region, "account", None),
            call_regions=tuple(getattr(region, "provider_regions", None) or ()),
            widened_models=_widened_models(getattr(region, "gateway", None)),
        )

    @classmethod
    def strict(cls, aws_region: str, account: str | None = None) -> ResidencyPolicy:
        """The narrowest promise for a stack nobody described: everything, inference too, in its own region."""
        return cls(
            home_region=aws_region,
            geography=geography_of(aws_region),
            partition=partition_of(aws_region),
            inference_regions=(aws_region,),
            account=account,
        )


def _widened_models(gateway: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(foundation model id, area regions) of each model that opted into a processing area (duck-typed: a model
    with ``area.regions`` and a ``target`` that is a geography profile id or a model id)."""
    found: dict[str, tuple[str, ...]] = {}
    for model in getattr(gateway, "models", ()) or ():
        area = getattr(model, "area", None)
        if area is None:
            continue
        target = str(getattr(model, "target", ""))
        foundation = target.split(".", 1)[1] if target.count(".") >= 2 else target
        found[foundation] = tuple(sorted({*found.get(foundation, ()), *area.regions}))
    return tuple(sorted(found.items()))
