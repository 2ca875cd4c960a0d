"""The BatchNorm-bias check (Luck Matters, ``check_models.py``): the share of negative BN
biases beta in a trained network.

With BN before the ReLU (``Conv -> BN -> ReLU``, as in VGG-BN), a node's pre-activation after BN
has mean beta over the data; a negative beta means the node is active on less than about half
of the inputs, the paper's evidence for small overlaps between teacher nodes.

BN layers are found in any state dict by their ``<prefix>.running_mean`` and
``<prefix>.running_var`` keys; beta is ``<prefix>.bias``. Weights are read from safetensors or
from a ``.pth``/``.pt`` file through ``torch.load(weights_only=True)`` (never unpickled
otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from relulab.config import ConfigError


@dataclass(frozen=True)
class BNLayer:
    """One BN layer's biases: how many, how many negative, and their share."""

    name: str  # the state-dict prefix, e.g. "features.1"
    count: int
    negative: int

    @property
    def fraction(self) -> float:
        return self.negative / self.count


def _unwrap(obj: object, path: Path) -> dict[str, Tensor]:
    """The tensor entries of a loaded checkpoint: a state dict, or one under the usual
    ``state_dict`` / ``model`` key."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
        if tensors:
            return tensors
    raise ConfigError(f"'{path}' holds no state dict of tensors")


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a weights file (``.safetensors``, else ``torch.load(weights_only=True)``).
    ConfigError (one line) when it is missing, unreadable, or a pickle that needs more than
    tensors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weights file '{path}' not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ConfigError(f"cannot read '{path}' as safetensors: "
                              f"{str(exc).splitlines()[0]}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (classified below; anything else re-raised)
        raise _load_error(path, exc) from None
    return _unwrap(obj, path)


def _load_error(path: Path, exc: Exception) -> ConfigError:
    """The one-line error for a ``torch.load(weights_only=True)`` failure; re-raises what is
    not a reading error. (The restricted unpickler's refusal is recognised by its class name,
    so this module needs no pickle import.)"""
    if type(exc).__name__ == "UnpicklingError":
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if refused:
            return ConfigError(f"'{path}' is a pickle checkpoint that torch.load(weights_only="
                               f"True) refuses (it holds {refused.group(1)}): save its "
                               "state_dict() (or convert it to safetensors)")
        return ConfigError(f"cannot read '{path}' as a torch checkpoint (not a state dict "
                           "file)")
    if isinstance(exc, RuntimeError | EOFError | OSError | ValueError):
        return ConfigError(f"cannot read '{path}' as a torch checkpoint: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise exc


def _natural_key(name: str) -> list[object]:
    """"features.10" after "features.8": digits compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def bn_layers(state: dict[str, Tensor]) -> list[BNLayer]:
    """Every BN layer with a bias (beta), in the network's order. ConfigError if none."""
    prefixes = [k.removesuffix(".running_mean") for k in state if k.endswith(".running_mean")]
    layers = []
    for prefix in sorted(prefixes, key=_natural_key):
        beta = state.get(f"{prefix}.bias")
        if f"{prefix}.running_var" not in state or beta is None:
            continue
        layers.append(BNLayer(prefix, beta.numel(), int((beta < 0).sum())))
    if not layers:
        raise ConfigError("no BatchNorm layer with a bias found (looked for <name>.running_mean, "
                          "<name>.running_var and <name>.bias keys)")
    return layers


def overall(layers: list[BNLayer]) -> BNLayer:
    """All BN biases of the network together."""
    return BNLayer("all", sum(x.count for x in layers), sum(x.negative for x in layers))


def report(layers: list[BNLayer]) -> dict[str, object]:
    """A JSON-ready record: per layer and overall counts and fractions."""
    total = overall(layers)
    return {"layers": [{"name": x.name, "count": x.count, "negative": x.negative,
                        "fraction": x.fraction} for x in layers],
            "overall": {"count": total.count, "negative": total.negative,
                        "fraction": total.fraction}}
