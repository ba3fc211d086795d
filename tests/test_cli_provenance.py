"""The CLI says which backbone ran and why (``--backbone auto``), and keeps TensorFlow's CUDA probing off stderr (issue 18)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attr_utils.embeddings import Embeddings
from attr_utils.native_logs import is_noise

ROOT = Path(__file__).resolve().parents[1]
REASON = "auto: ResNet-50 ImageNet weights are neither cached nor downloadable, so efficientnet-lite0 is used instead"

# what TensorFlow 2.19 printed on this machine when first imported and when it looked for devices
TF_NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796007825.513215    3666 port.cc:153] oneDNN custom operations are on. You may see slightly "
    b"different numerical results due to floating-point round-off errors from different computation orders.",
    b"I0000 00:00:1796007825.513584    3666 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    b"not be used.",
    b"E0000 00:00:1796007841.593183    3666 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    b"call to cuInit: UNKNOWN ERROR (303)",
    b"W0000 00:00:1796007841.593183    3666 some_file.cc:7] a warning line\r",
]


@pytest.mark.parametrize("line", TF_NOISE)
def test_tensorflow_start_up_lines_are_noise(line):
    assert is_noise(line) and is_noise(line + b"\n")


@pytest.mark.parametrize(
    "line",
    [
        b"warning: 3 of 5 queries skipped",
        b"E0000 00:00:1796007841.593183    3666 op_kernel.cc:1] OOM when allocating tensor",  # a real error stays
        b"attr-utils evaluate: error: no label column 'colour'",
        b"skipped a.png: cannot read file",
        b"",
    ],
)
def test_other_lines_are_kept(line):
    assert not is_noise(line)


_CHILD = r"""
import os, sys
from attr_utils.native_logs import filter_native_stderr
with filter_native_stderr():
    os.write(2, b"I0000 00:00:1796007825.513584    3666 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n")
    os.write(2, b"native kept 1\nE0000 00:00:1796007841.593183    3666 cuda_platform.cc:52] failed call to cuInit\n")
    sys.stderr.write("\rpython progress 50%")
    sys.stderr.write("\rpython progress 100%\n")
    os.write(2, b"native kept 2 (no newline)")
os.write(2, b"\nafter: I0000 00:00:1796007825.513584    3666 x.cc:1] restored, not filtered\n")
"""


def test_filter_drops_only_native_noise_and_restores_stderr():
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    err = out.stderr.decode()
    assert "cuda" not in err.lower().replace("after: i0000", "")  # the filtered lines are gone...
    assert "native kept 1\n" in err and "native kept 2 (no newline)" in err  # ...everything else arrives
    # Python's own writes bypass the filter (fd 2 direct), so they may interleave with the piped native lines
    assert "\rpython progress 50%" in err and "\rpython progress 100%\n" in err
    assert "after: I0000 00:00:1796007825.513584    3666 x.cc:1] restored, not filtered" in err  # fd 2 restored


# -- the auto choice in human and JSON output ---------------------------------------------------------------------------
def _auto_emb() -> Embeddings:
    rng = np.random.default_rng(0)
    labels = np.repeat(["red", "blue"], 15)
    block = rng.normal(size=(30, 4)) + np.where(labels == "red", 3.0, -3.0)[:, None]
    base = Embeddings.from_arrays({"block1": block, "block2": rng.normal(size=(30, 3))}, {"color": labels},
                                  backbone="efficientnet-lite0", weights="imagenet")
    return dataclasses.replace(base, backbone_reason=REASON)


@pytest.fixture()
def auto_embedded(monkeypatch):
    from attr_utils.cli import evaluate

    monkeypatch.setattr(evaluate, "embed_from_args", lambda args, data, label=None, progress=None: _auto_emb())


def test_evaluate_json_says_which_backbone_auto_chose_and_why(auto_embedded, capsys):
    from attr_utils.cli import main

    assert main(["evaluate", "unused", "--label", "color", "--backbone", "auto", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backbone"] == "efficientnet-lite0" and out["backbone_reason"] == REASON


def test_evaluate_human_output_says_which_backbone_auto_chose_and_why(auto_embedded, capsys):
    from attr_utils.cli import main

    assert main(["evaluate", "unused", "--label", "color", "--backbone", "auto"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("efficientnet-lite0 · imagenet") and lines[1] == REASON


def test_a_requested_backbone_prints_no_reason_line():
    from attr_utils.cli.output import backbone_choice, backbone_reason_line, provenance_header

    emb = dataclasses.replace(_auto_emb(), backbone_reason="requested")
    assert backbone_reason_line(emb) is None and backbone_choice(emb)["backbone_reason"] == "requested"
    assert len(provenance_header(emb).splitlines()) == 2
    assert provenance_header(_auto_emb()).splitlines()[1] == REASON


@pytest.mark.slow
def test_embed_stderr_has_no_cuda_probing_lines(tmp_path):
    """A real first embedding (TensorFlow imported, devices probed): stderr holds no CUDA/cuInit line."""
    from tests.conftest import make_image

    folder = tmp_path / "data"
    for i, color in enumerate([(200, 30, 30), (30, 30, 200)]):
        make_image(folder / f"c{i}" / "a.png", color)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
    env.update(PYTHONPATH=str(ROOT), ATTR_UTILS_ENGINE="keras")
    out = subprocess.run(
        [sys.executable, "-m", "attr_utils", "embed", str(folder), "--backbone", "auto",
         "--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 images: 2 embedded now" in out.stdout
    assert out.stdout.splitlines()[1].startswith("auto: ")  # the auto choice and its reason
    bad = [line for line in out.stderr.splitlines() if "cuda" in line.lower() or "cuinit" in line.lower()]
    assert bad == [], out.stderr[-3000:]


def test_the_auto_reason_reads_as_sentences():
    """Each sentence of the reason starts upper-case (it read "... is used instead. the ResNet-50 ...")."""
    import re

    from attr_utils.backbones.auto import resolve_backbone

    resolved = resolve_backbone("auto")
    if resolved.spec.name == "resnet50":
        pytest.skip("the ResNet-50 ImageNet weights are available here: auto takes them, no fallback reason")
    assert "is used instead. " in resolved.reason
    assert re.search(r"\. [a-z]", resolved.reason) is None, resolved.reason
