"""Parameter table, validation and the shipped config/stdc_ros.yaml (no DDS)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stdc_ros.labels import load_label_set
from stdc_ros.node.parameters import (
    NODE_PARAMETERS,
    NodeConfig,
    all_parameters,
    build_config,
    default_values,
)

REPO = Path(__file__).resolve().parents[2]


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_defaults_build_the_default_config() -> None:
    config = build_config(default_values(load_label_set("camvid")))
    assert config == NodeConfig()
    assert config.network_input_size is None


def test_drivable_classes_default_to_the_label_sets_own() -> None:
    values = default_values(load_label_set("cityscapes"))
    assert values["drivable.drivable_classes"] == [0]
    assert build_config(values).drivable.drivable_classes == (0,)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("overlay.alpha", 1.5, r"overlay.alpha = 1.5 is outside \[0, 1\]"),
        ("backend", "caffe", "backend = 'caffe' is not one of onnxruntime, tensorrt, torch"),
        ("qos.reliability", "sometimes", "not one of best_effort, reliable"),
        ("input_size", [96], "must have 2 values"),
        ("input_size", [4, 4], "each >= 8"),
        ("device", "gpu", "device = 'gpu' must be"),
        ("publish.labels", 1, "must be true or false"),
        ("qos.depth", 2.5, "must be an integer"),
        ("drivable.morph_kernel", 4, "must be odd"),
        ("drivable.grid_x_max", -5.0, "grid_x_max .* must exceed grid_x_min"),
        ("drivable.ground_frame", "/bad frame", "not a valid frame id"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(name: str, value: object, reason: str) -> None:
    values = default_values(load_label_set("camvid"))
    values[name] = value
    with pytest.raises(ValueError, match=reason):
        build_config(values)


def test_valid_changes_apply_together() -> None:
    values = default_values()
    values.update(
        {"overlay.alpha": 0.2, "drivable.grid_x_min": 5.0, "drivable.grid_x_max": 60.0, "input_size": [96, 128]}
    )
    config = build_config(values)
    assert config.overlay_alpha == 0.2
    assert (config.drivable.grid_x_min, config.drivable.grid_x_max) == (5.0, 60.0)
    assert config.network_input_size == (96, 128)


def test_every_parameter_has_a_description_and_read_only_ones_are_the_start_time_ones() -> None:
    read_only = {spec.name for spec in all_parameters() if spec.read_only}
    assert read_only == {
        "model_path", "backend", "device", "input_size", "label_set", "engine_cache_dir", "precision", "threads",
        "dla_core", "allow_provider_fallback", "test_time_flip", "image_transport", "qos.reliability", "qos.depth",
        "autostart",
    }  # fmt: skip
    assert all(len(spec.description) > 10 for spec in all_parameters())
    tunable = {spec.name for spec in all_parameters() if not spec.read_only}
    assert {"overlay.alpha", "publish.overlay", "min_confidence", "drivable.camera_pitch"} <= tunable


def test_config_file_lists_every_parameter_with_its_default_and_a_comment() -> None:
    path = REPO / "config" / "stdc_ros.yaml"
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["/**"] and list(data["/**"]) == ["ros__parameters"]
    in_file = flatten(data["/**"]["ros__parameters"])
    defaults = default_values(load_label_set("camvid"))
    assert set(in_file) == {spec.name for spec in all_parameters()}
    for name, value in in_file.items():
        assert value == defaults[name], name
        assert type(value) is type(defaults[name]), f"{name}: {type(value).__name__} in the file"
    for line in path.read_text().splitlines():
        if re.match(r"^\s+[a-z_]+:\s*\S", line):  # every leaf value carries a comment
            assert "#" in line, line


def test_docs_name_every_parameter() -> None:
    text = (REPO / "docs" / "node.md").read_text()
    missing = [spec.name for spec in NODE_PARAMETERS if f"`{spec.name}`" not in text]
    assert not missing
    assert "drivable.<field>" in text or "`drivable." in text


def test_test_time_flip_reaches_only_the_onnxruntime_backend() -> None:
    from stdc_ros.node.segmentation_node import runtime_options

    values = default_values(load_label_set("camvid"))
    assert build_config(values).test_time_flip and "test_time_flip" not in runtime_options(build_config(values))
    single = build_config({**values, "test_time_flip": False})
    assert runtime_options(single)["test_time_flip"] is False
    torch_single = build_config({**values, "test_time_flip": False, "backend": "torch"})
    assert "test_time_flip" not in runtime_options(torch_single)
    with pytest.raises(ValueError, match="test_time_flip must be true or false"):
        build_config({**values, "test_time_flip": "no"})


def test_precision_dla_and_provider_fallback_reach_the_backends_that_use_them() -> None:
    from stdc_ros.node.segmentation_node import runtime_options

    values = default_values(load_label_set("camvid"))
    default = runtime_options(build_config(values))
    assert "dla_core" not in default and "allow_fallback" not in default
    ort_trt = runtime_options(
        build_config({**values, "device": "tensorrt:0", "dla_core": 1, "allow_provider_fallback": True})
    )
    assert ort_trt["dla_core"] == 1 and ort_trt["allow_fallback"] is True and ort_trt["precision"] in ("fp16", "int8")
    trt = runtime_options(build_config({**values, "backend": "tensorrt", "device": "cuda", "dla_core": 0}))
    assert trt["dla_core"] == 0 and trt["precision"] == "fp16" and "allow_fallback" not in trt
    torch_options = runtime_options(build_config({**values, "backend": "torch", "dla_core": 0}))
    assert "dla_core" not in torch_options and "precision" not in torch_options
    with pytest.raises(ValueError, match="dla_core"):
        build_config({**values, "dla_core": 8})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: broken\nclasses: [{name: road, color: [1, 2, 3]}\n", "not a valid label YAML"),  # unclosed list
        ("!!python/object/apply:os.system ['true']\n", "not a valid label YAML"),  # safe_load refuses tags
        ("- road\n- car\n", "malformed label file"),  # a list, not a mapping
        ("name: x\nclasses: {road: 1}\n", "malformed label file"),
        ("name: x\nclasses:\n  - {name: road}\n", "malformed label file"),  # no colour
        ("name: x\nclasses:\n  - {name: road, color: [1, 2, 3]}\ndrivable: 3\n", "malformed label file"),
        ("", "malformed label file"),  # empty file
        ("name: x\nclasses:\n  - {name: road, color: [1, 2, 300]}\n", "three values in 0..255"),
    ],
)
def test_a_malformed_label_yaml_is_a_value_error_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    """declare_parameters catches OSError/ValueError so that a bad label file fails configure, not construction:
    yaml.YAMLError is neither, so the loader must turn it into a ValueError."""
    assert not issubclass(yaml.YAMLError, (ValueError, OSError))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason) as caught:
        load_label_set(str(path))
    assert str(path) in str(caught.value)
