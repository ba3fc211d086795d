"""The CLI entry point: fast help, embed JSON, cache info/clear, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from attr_utils.cli import main


def test_help_does_not_import_tensorflow():
    code = "import sys; from attr_utils.cli import build_parser; build_parser().format_help(); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "attr_utils", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "embed" in out.stdout and "cache" in out.stdout


def test_embed_json_then_cached(class_folder, tmp_path, capsys):
    args = ["embed", str(class_folder), "--weights", "random", "--cache-dir", str(tmp_path), "--json", "--label", "label"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) >= {"backbone", "weights", "images", "embedded", "cached", "skipped", "blocks", "seconds"}
    assert first["backbone"] == "resnet50" and first["weights"] == "random:0" and first["pretrained"] is False
    assert first["blocks"] == {"block1": 64, "block2": 256, "block3": 512, "block4": 1024, "block5": 2048}
    assert (first["images"], first["embedded"], first["cached"]) == (18, 18, 0)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["embedded"], second["cached"]) == (0, 18)
    assert main(["cache", "info", "--cache-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["signatures"][0]["images"] == 18
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1" in capsys.readouterr().out


def test_embed_reports_skips_and_exits_zero(tmp_path, capsys):
    from tests.conftest import make_image

    make_image(tmp_path / "d" / "a.png", (9, 9, 9))
    (tmp_path / "d" / "b.png").write_bytes(b"")
    assert main(["embed", str(tmp_path / "d"), "--weights", "random", "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] == [{"path": str(tmp_path / "d" / "b.png"), "reason": "empty file"}]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "/no/such/folder"], "does not exist"),
        (["embed", "{data}", "--backbone", "nope"], "unknown backbone"),
        (["embed", "{data}", "--label", "colour"], "unknown label column"),
        (["embed", "{data}", "--weights", "random:x"], "invalid weights"),
    ],
)
def test_unusable_arguments_exit_non_zero_with_one_line(argv, message, class_folder, tmp_path, capsys):
    argv = [a.replace("{data}", str(class_folder)) for a in argv] + ["--cache-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_invalid_batch_size_is_an_argument_error(value, class_folder, capsys):
    with pytest.raises(SystemExit) as info:
        main(["embed", str(class_folder), "--batch-size", value])
    assert info.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err
