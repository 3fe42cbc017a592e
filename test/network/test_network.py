"""The STDC network against the reference facts: parameters, MACs, shapes, train/eval behaviour."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from stdc_ros.network import STDCModule, TrainOutputs, build_stdc, count_macs, count_parameters

# Reference figures at 19 classes (shared/docs/stdc_reference.md).
REFERENCE = {
    "stdc1": {"inference": 8_275_104, "with_heads": 8_572_896, "backbone": 5_318_304},
    "stdc2": {"inference": 12_305_568, "with_heads": 12_603_360, "backbone": 9_348_768},
}
# GMACs (conv + linear, main path, 19 classes) as the reference prints them: two decimals.
REFERENCE_GMACS = {
    ("stdc1", (512, 1024)): 16.86,
    ("stdc1", (720, 960)): 22.31,
    ("stdc1", (360, 480)): 5.64,
    ("stdc2", (512, 1024)): 23.46,
    ("stdc2", (720, 960)): 31.03,
    ("stdc2", (360, 480)): 7.86,
}


def _training_head_params(model) -> int:
    return sum(p.numel() for p in model.training_head_parameters())


@pytest.mark.parametrize("variant", ["stdc1", "stdc2"])
def test_parameter_counts_match_reference(variant: str) -> None:
    model = build_stdc(variant, 19)
    ref = REFERENCE[variant]
    total = count_parameters(model)
    assert total == ref["with_heads"]
    assert total - _training_head_params(model) == ref["inference"]
    assert count_parameters(model.backbone) == ref["backbone"]


@pytest.mark.parametrize(("variant", "size"), list(REFERENCE_GMACS))
def test_macs_equal_the_reference_to_its_printed_precision(variant: str, size: tuple[int, int]) -> None:
    with torch.device("meta"):  # shapes only: no arithmetic is done
        model = build_stdc(variant, 19).eval()
    gmacs = count_macs(model, (1, 3, *size)) / 1e9
    # Equal after rounding to the reference's two decimals (within 0.06 % at every size), not a loose tolerance.
    assert round(gmacs, 2) == REFERENCE_GMACS[(variant, size)], f"{variant} {size}: {gmacs:.4f} GMACs"


def test_eval_mode_runs_no_training_head() -> None:
    with torch.device("meta"):
        model = build_stdc("stdc1", 19).eval()
    calls = []
    for head in (model.aux_head8, model.aux_head16, model.detail_head):
        head.register_forward_hook(lambda *_: calls.append(1))
    out = model(torch.zeros(1, 3, 64, 64, device="meta"))
    assert isinstance(out, torch.Tensor) and not calls
    # With the training heads left out of the count, eval MACs equal the inference-only network.
    with_heads = count_macs(model.train(), (2, 3, 512, 1024))
    without = count_macs(model.eval(), (2, 3, 512, 1024))
    assert with_heads > without


@pytest.mark.parametrize("size", [(360, 480), (512, 1024), (720, 960)])
def test_output_shapes(size: tuple[int, int]) -> None:
    with torch.device("meta"):
        model = build_stdc("stdc1", 11)
        x = torch.zeros(2, 3, *size)
        assert model.eval()(x).shape == (2, 11, *size)
        out = model.train()(x)
    assert isinstance(out, TrainOutputs)
    assert out.main.shape == out.aux8.shape == out.aux16.shape == (2, 11, *size)
    assert out.detail.shape == (2, 1, *size)


@pytest.mark.parametrize("size", [(65, 97), (100, 150), (361, 479), (33, 31)])
def test_sizes_not_divisible_by_32_give_input_sized_logits(size: tuple[int, int]) -> None:
    # Every stride-2 stage gives ceil(n / 2) and each upsample targets the next feature map's own size,
    # so any size works; the logits are resized back to the input exactly.
    torch.manual_seed(0)
    model = build_stdc("stdc1", 5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 5, *size)
    assert torch.isfinite(out).all()


def test_real_forward_is_deterministic_and_batch_independent() -> None:
    torch.manual_seed(0)
    model = build_stdc("stdc1", 11).eval()
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        both = model(x)
        first = model(x[:1])
    torch.testing.assert_close(both[:1], first, rtol=1e-4, atol=1e-4)


def test_stdc_module_stride_two_halves_and_concatenates() -> None:
    module = STDCModule(64, 256, stride=2).eval()
    with torch.no_grad():
        out = module(torch.randn(1, 64, 31, 40))
    assert out.shape == (1, 256, 16, 20)
    # Blocks give C/2, C/4, C/8, C/8 channels: the first half is the pooled block-1 skip.
    assert [b[0].out_channels for b in module.blocks] == [128, 64, 32, 32]
    assert module.downsample[0].groups == 128


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown STDC variant"):
        build_stdc("stdc3", 19)
    with pytest.raises(ValueError, match="num_classes"):
        build_stdc("stdc1", 0)
    with pytest.raises(ValueError, match="divisible by 8"):
        STDCModule(32, 36)
