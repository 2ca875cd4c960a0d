"""A stacked Net as flat named tensors plus a JSON description, and back.

A weights file (``weights.safetensors`` of a run, ``weights/batch-<id>.safetensors`` of a
sweep) holds, for each net ``<prefix>`` ("teacher", "student"), per layer l:
``<prefix>.weight.l`` ``(S, out, in)`` (conv: ``(S, O, C, 3, 3)``), ``<prefix>.bias.l``
``(S, out)``, and per hidden layer when the net has BatchNorm ``<prefix>.bn_mean.l``,
``<prefix>.bn_var.l`` ``(S, n_l)`` (running statistics) and, with affine BN,
``<prefix>.bn_weight.l``, ``<prefix>.bn_bias.l``. Its safetensors metadata holds one JSON
string under ``"relulab"``: ``{"format", "config_hash", "config_hashes", "seeds", "kind",
"dtype", "teacher": {...}, "student": {...}}`` with each net's :func:`net_meta`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from relulab.config import ConfigError
from relulab.nets.networks import Net

FORMAT = "relulab-weights/1"
META_KEY = "relulab"  # the safetensors metadata key of the JSON description


def net_tensors(net: Net, prefix: str) -> dict[str, Tensor]:
    """``{"<prefix>.weight.0": (S, ...), ...}``: every tensor of ``net``, detached, contiguous,
    on the CPU."""
    fields = {"weight": net.weights, "bias": net.biases, "bn_mean": net.bn_mean,
              "bn_var": net.bn_var, "bn_weight": net.bn_weight, "bn_bias": net.bn_bias}
    return {f"{prefix}.{name}.{layer}": t.detach().cpu().contiguous()
            for name, tensors in fields.items() for layer, t in enumerate(tensors)}


def net_meta(net: Net) -> dict[str, Any]:
    """What the tensors of a net do not say: its kind, activation, BatchNorm placement and
    affine, dtype, layer kinds (bottom up) and widths."""
    hidden = "conv" if net.kind == "conv" else "linear"
    return {"kind": net.kind, "leaky_slope": net.leaky_slope, "batchnorm": net.batchnorm,
            "bn_before_relu": net.bn_before_relu, "bn_affine": bool(net.bn_weight),
            "dtype": str(net.weights[0].dtype).removeprefix("torch."),
            "layers": [hidden] * net.depth + ["linear"], "widths": list(net.widths),
            "seeds": net.num_seeds}


def weights_metadata(teacher: Net, student: Net, **info: Any) -> dict[str, str]:
    """Safetensors metadata of a weights file: ``{"relulab": JSON}`` of both nets' :func:`net_meta`
    and ``info`` (config_hash, config_hashes, seeds)."""
    desc = {"format": FORMAT, **info, "kind": student.kind,
            "dtype": net_meta(student)["dtype"], "teacher": net_meta(teacher),
            "student": net_meta(student)}
    return {META_KEY: json.dumps(desc, sort_keys=True)}


def read_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON description from safetensors metadata (``{"relulab": "<json>"}``) or the
    description itself; ConfigError when there is none."""
    raw = (meta or {}).get(META_KEY, meta)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError("weights metadata 'relulab' is not valid JSON") from None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("weights without relulab metadata: kind, activation and BatchNorm "
                          "placement are unknown")
    return dict(raw)


def net_from_weights(tensors: Mapping[str, Tensor], meta: Mapping[str, Any] | None,
                     prefix: str = "student") -> Net:
    """The net ``prefix`` of a weights file: ``tensors`` as read by ``safetensors``'
    ``load_file`` and ``meta`` its metadata (or the parsed description). ConfigError (one
    line) for a missing tensor or a description that does not fit the tensors."""
    desc = read_meta(meta)
    info = desc.get(prefix)
    if not isinstance(info, Mapping):
        raise ConfigError(f"weights metadata has no net '{prefix}' (nets: "
                          f"{', '.join(k for k in ('teacher', 'student') if k in desc)})")
    layers = len(info["layers"])

    def get(name: str, count: int) -> tuple[Tensor, ...]:
        keys = [f"{prefix}.{name}.{i}" for i in range(count)]
        missing = [k for k in keys if k not in tensors]
        if missing:
            raise ConfigError(f"weights file lacks '{missing[0]}'")
        return tuple(tensors[k] for k in keys)

    bn, affine = bool(info["batchnorm"]), bool(info.get("bn_affine"))
    hidden = layers - 1
    net = Net(info["kind"], get("weight", layers), get("bias", layers),
              leaky_slope=float(info["leaky_slope"]), batchnorm=bn,
              bn_mean=get("bn_mean", hidden) if bn else (),
              bn_var=get("bn_var", hidden) if bn else (),
              bn_before_relu=bool(info["bn_before_relu"]),
              bn_weight=get("bn_weight", hidden) if affine else (),
              bn_bias=get("bn_bias", hidden) if affine else ())
    for layer, (kind, w) in enumerate(zip(info["layers"], net.weights, strict=True)):
        if w.dim() != {"conv": 5, "linear": 3}.get(kind):
            raise ConfigError(f"'{prefix}.weight.{layer}' of shape {tuple(w.shape)} is not a "
                              f"stacked {kind} layer")
    dtype = getattr(torch, str(info.get("dtype", "float32")))
    if list(net.widths) != list(info.get("widths", net.widths)):
        raise ConfigError(f"weights of '{prefix}' have widths {net.widths}, the metadata says "
                          f"{tuple(info['widths'])}")
    return net.to(net.weights[0].device, dtype)
