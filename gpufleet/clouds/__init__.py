"""The registry of clouds: `"aws"` and `"azure"` (and any cloud a test or plug-in registers) to
the `CloudModel` that knows that cloud (docs/design.md, "The cloud interface").

The core asks here instead of comparing cloud names, so adding a cloud is one module plus its
catalog rows. Registration order is the order clouds appear in plans and tables.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from gpufleet.clouds.aws import Aws
from gpufleet.clouds.azure import Azure
from gpufleet.clouds.base import AddressBlocks, CloudModel, FixedCost, StorageRate, SystemPool

__all__ = [
    "AddressBlocks",
    "CloudModel",
    "FixedCost",
    "StorageRate",
    "SystemPool",
    "UnknownCloudError",
    "get",
    "models",
    "names",
    "owner_of",
    "registered",
    "revision",
]

_REGISTRY: dict[str, CloudModel] = {model.name: model for model in (Aws(), Azure())}


class UnknownCloudError(KeyError):
    """A cloud name no registered cloud answers to; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def names() -> tuple[str, ...]:
    """Every registered cloud, in registration order."""
    return tuple(_REGISTRY)


def models() -> tuple[CloudModel, ...]:
    return tuple(_REGISTRY.values())


def get(name: str) -> CloudModel:
    """The model of a cloud; an unknown name raises UnknownCloudError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCloudError(f"unknown cloud '{name}'; registered clouds: {', '.join(_REGISTRY)}") from None


def owner_of(resource_type: str) -> CloudModel | None:
    """The cloud whose Pulumi package declares this type token (providers included), or None."""
    return next((model for model in _REGISTRY.values() if model.owns(resource_type)), None)


def revision() -> tuple[CloudModel, ...]:
    """The registered models themselves: caches built from them (the catalog) key on this."""
    return tuple(_REGISTRY.values())


@contextmanager
def registered(model: CloudModel) -> Generator[CloudModel]:
    """Register a cloud for the duration of a block (tests, plug-ins); slots must not collide."""
    if model.name in _REGISTRY:
        raise ValueError(f"cloud '{model.name}' is already registered")
    taken = {slot: (m.name, r) for m in _REGISTRY.values() for r, slot in m.region_slots.items()}
    clash = [f"{model.name}/{r} and {taken[s][0]}/{taken[s][1]}" for r, s in model.region_slots.items() if s in taken]
    if clash:
        raise ValueError(f"address slots collide: {'; '.join(clash)}")
    _REGISTRY[model.name] = model
    try:
        yield model
    finally:
        del _REGISTRY[model.name]
