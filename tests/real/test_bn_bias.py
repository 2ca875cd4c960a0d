import json

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from relulab.cli import app
from relulab.config import ConfigError
from relulab.experiments.bn_bias import bn_layers, load_state_dict, overall, report
from relulab.real.classifier import build, fit
from relulab.real.datasets import load_split

runner = CliRunner()


def hand_made() -> dict[str, torch.Tensor]:
    """Two BN layers (3 of 4 and 1 of 2 biases negative), a conv and a linear without BN, and
    layer names whose text order differs from the network order (10 after 2)."""
    bn = {"running_mean": torch.zeros(4), "running_var": torch.ones(4),
          "weight": torch.ones(4), "bias": torch.tensor([-1.0, -0.5, 2.0, -3.0]),
          "num_batches_tracked": torch.tensor(5)}
    bn2 = {"running_mean": torch.zeros(2), "running_var": torch.ones(2),
           "weight": torch.ones(2), "bias": torch.tensor([0.0, -1e-3])}
    sd = {"features.0.weight": torch.ones(4, 3, 3, 3), "features.0.bias": -torch.ones(4)}
    sd |= {f"features.10.{k}": v for k, v in bn2.items()}
    sd |= {f"features.2.{k}": v for k, v in bn.items()}
    sd |= {"classifier.weight": torch.ones(2, 2), "classifier.bias": -torch.ones(2)}
    return sd


def test_counts_of_a_hand_made_state_dict():
    layers = bn_layers(hand_made())
    assert [(x.name, x.count, x.negative) for x in layers] == [("features.2", 4, 3),
                                                               ("features.10", 2, 1)]
    assert layers[0].fraction == 0.75 and overall(layers).fraction == pytest.approx(4 / 6)
    assert report(layers)["overall"] == {"count": 6, "negative": 4, "fraction": 4 / 6}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_cli_reads_both_formats(tmp_path, suffix):
    path = tmp_path / f"net{suffix}"
    sd = hand_made()
    if suffix == ".pth":
        torch.save({"state_dict": sd, "epoch": 3}, path)
    else:
        save_file(sd, str(path))
    out_json, fig = tmp_path / "bn.json", tmp_path / "bn.png"
    res = runner.invoke(app, ["bn-bias", "--weights", str(path), "--json", str(out_json),
                              "--figure", str(fig)])
    assert res.exit_code == 0, res.output
    assert "0.750" in res.output and "0.667" in res.output
    rec = json.loads(out_json.read_text())
    assert [x["negative"] for x in rec["layers"]] == [3, 1] and rec["overall"]["count"] == 6
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _pickle_only(path):
    torch.save(torch.nn.BatchNorm1d(3), path)  # a whole module: weights_only refuses it


@pytest.mark.parametrize("make,msg", [
    (None, "weights file '.*' not found"),
    (lambda p: p.write_bytes(b"not a checkpoint"), "cannot read"),
    (lambda p: torch.save({"fc.weight": torch.ones(2, 2)}, p), "no BatchNorm layer"),
    (_pickle_only, "weights_only=True"),
])
def test_bad_weights_exit_2(tmp_path, make, msg):
    path = tmp_path / "w.pth"
    if make is not None:
        make(path)
    res = runner.invoke(app, ["bn-bias", "--weights", str(path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    with pytest.raises(ConfigError, match=msg):
        bn_layers(load_state_dict(path))


def test_bad_safetensors_exit_2(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x00" * 20)
    res = runner.invoke(app, ["bn-bias", "--weights", str(path)])
    assert res.exit_code == 2 and res.output.startswith("error: cannot read")


def test_trained_digits_conv_teacher(tmp_path, generator):
    """A BN conv teacher trained briefly on digits: the CLI's count is the module's."""
    split = load_split("digits", kind="conv", image_size=16)
    net = build("conv", split.input_shape, (6, 6), 10, True, generator=generator)
    fit(net, split.train_x[:256], split.train_y[:256], epochs=1, lr=0.05, batch_size=64,
        generator=generator)
    path = tmp_path / "teacher.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    betas = torch.cat([bn.bias.detach() for _, bn in net.hidden_layers()])
    layers = bn_layers(load_state_dict(path))
    assert [x.name for x in layers] == ["features.1", "features.4"]
    assert overall(layers).negative == int((betas < 0).sum())
