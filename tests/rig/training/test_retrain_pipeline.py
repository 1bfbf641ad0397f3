"""scripts/retrain_rig.py end to end at tiny scale: real pairs, F, RigNet, bundle (and bench, slow)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "retrain_rig.py"


def _run(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One tiny run of every stage but the bench: 2 chunks of 40 pairs, 3 F epochs, 3 RigNet steps."""
    from gan.dcgan import default_weights_path
    from gan.errors import GanError

    try:
        default_weights_path()
    except GanError as exc:
        pytest.skip(str(exc))
    folder = tmp_path_factory.mktemp("retrain")
    res = _run(folder, "--stages", "pairs,estimator,rignet,bundle", "--chunks", "2", "--pairs-per-chunk", "40",
               "--jobs", "2", "--estimator-args", "--epochs 3 --hidden 32 --depth 1", "--rig-steps", "3",
               "--rig-batch", "4", "--render-batch", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    return folder


def test_stages_produce_a_loadable_bundle_with_its_trained_range(work):
    from rig.training.training_pairs import load_pairs
    from rig.face_rig import FaceRig

    log = json.loads((work / "retrain_log.json").read_text())
    assert list(log["stages"]) == ["pairs", "estimator", "rignet", "bundle"]
    assert all(s["seconds"] >= 0 for s in log["stages"].values())
    assert len(log["stages"]["pairs"]["commands"]) == 2 and "--seed 1" in log["stages"]["pairs"]["commands"][1]
    pairs = load_pairs(work / "estimator" / "pairs.npz")                 # the two chunks joined by F's training
    assert len(pairs["ws"]) == 80 and pairs["ok"].sum() > 20
    assert sorted(p.name for p in (work / "bundle").iterdir()) == ["estimator.safetensors", "manifest.json",
                                                                  "rignet.safetensors"]
    rig = FaceRig.load(work / "bundle")
    assert rig.info["final"]["step"] == 3
    # the backend that labelled the pairs reached the bundle (reenact tracks drivers with it)
    assert rig.landmarks == str(pairs["landmarks"]) and rig.landmarks in ("mediapipe", "dlib")
    assert rig.trained_range is not None and "fitted pairs" in rig.trained_range.source
    ws = rig.sample(0)
    assert rig.edit(ws, yaw=10).shape == ws.shape


def test_bad_options_and_failed_stages_are_one_line(tmp_path):
    res = _run(tmp_path, "--stages", "pairs,paint")
    assert res.returncode == 2 and "--stages" in res.stderr and "Traceback" not in res.stderr
    res = _run(tmp_path / "empty", "--stages", "bundle")                # nothing trained there yet
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: no rig bundle")
    res = subprocess.run([sys.executable, "-m", "rig.cli", "rig", "pairs", "--n", "2", "--out", str(tmp_path / "p.txt")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == f"facerig: error: the pairs file must end in .npz, got {tmp_path / 'p.txt'}"


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_rig_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_args_resolves_paths_and_checks_the_identity_options(tmp_path, monkeypatch, capsys):
    from rig.training.identity_proxy import IdentityProxy, save_proxy

    script = _script()
    monkeypatch.chdir(tmp_path)
    save_proxy(IdentityProxy(1, 8, hidden=8, depth=1), tmp_path / "p.safetensors")
    args = script.parse_args(["w", "--bundle", "b", "--identity-proxy", "p.safetensors", "--identity-weight", "2",
                              "--landmarks", "dlib"])
    assert args.work == tmp_path / "w" and args.bundle == tmp_path / "b"
    assert args.identity_proxy == tmp_path / "p.safetensors"
    cmds = script.commands(args)
    assert str(tmp_path / "p.safetensors") in cmds["rignet"][0]           # absolute: the stage runs in ROOT
    assert "--landmarks dlib" in " ".join(cmds["pairs"][0])
    assert script.parse_args(["w"]).bundle == tmp_path / "w" / "bundle"
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    for extra, message in ((["--identity-weight", "1"], "go together"),
                           (["--identity-proxy", "p.safetensors"], "go together"),
                           (["--identity-proxy", "none.safetensors", "--identity-weight", "1"], "no identity proxy at"),
                           (["--identity-proxy", "junk.safetensors", "--identity-weight", "1"],
                            "not a safetensors file (expected an identity proxy)"),
                           (["--identity-proxy", "p.safetensors", "--identity-weight", "0"], "--identity-weight must"),
                           (["--generator", "none.pkl"], "no generator checkpoint")):
        with pytest.raises(SystemExit) as exc:
            script.parse_args(["w", *extra])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "Traceback" not in err, err


@pytest.mark.slow
def test_bench_stage_measures_the_new_bundle(work):
    res = _run(work, "--stages", "bench", "--bench-n", "6", "--floor-n", "6", "--speed-reps", "2")
    assert res.returncode == 0, res.stderr[-2000:]
    measured = json.loads((work / "bench" / "rig_measured.json").read_text())
    assert measured["n_samples"] == 6 and set(measured["methods"]) == {"rig", "linear", "linear_uncapped"}
    assert measured["bundle_sha256"]["rignet.safetensors"]
    floor = json.loads((work / "bench" / "rig_identity_floor.json").read_text())
    assert floor["n_faces"] == 6 and "rig null edit (target = F(ws))" in floor["rows"]
    assert "bench" in json.loads((work / "retrain_log.json").read_text())["stages"]
