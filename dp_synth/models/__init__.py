"""Generators, registered by name so artifacts and configs can refer to them."""

from .autoregressive import AutoregressiveGenerator

__all__ = ["GENERATORS", "AutoregressiveGenerator", "build_generator"]

GENERATORS = {"autoregressive": AutoregressiveGenerator}


def build_generator(name: str, **kwargs):
    try:
        cls = GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown generator {name!r}; choose one of {sorted(GENERATORS)}") from None
    return cls(**kwargs)
