"""Preprocessing vectors: an app's own preprocessing, checked against the published one.

The "app" below is an independent plain-Python implementation of docs/preprocessing.md
(json and math only, no numpy: the vectors must be usable without it). Each deliberate
fault in it must be caught by ``golden check-preprocessing`` and blamed on the right step,
on the embedded 90-keypoint model and on a 100-keypoint model with its own layout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import one_error_line, run_in_process
from tests.helpers import SAMPLE, write_model, write_sample

BUCKETS = "8,16"
TOLERANCE = 1e-5
# The layouts of docs/preprocessing.md, written out again on purpose (the app's own copy).
LAYOUT_GROUPS = {
    90: [(0, 22), (23, 43), (44, 64), (65, 89)],
    75: [(0, 32), (33, 53), (54, 74)],
}


# ---------------------------------------------------------------- the plain-Python app


def app_bucket(frames: int, buckets: list[int], fault: str | None = None) -> int:
    if fault == "bucket choice":  # strictly longer than the clip: a common off-by-one
        fitting = [bucket for bucket in sorted(buckets) if bucket > frames]
    else:
        fitting = [bucket for bucket in sorted(buckets) if bucket >= frames]
    return fitting[0] if fitting else max(buckets)


def app_indices(frames: int, seq_len: int, fault: str | None = None) -> list[int]:
    if seq_len == 1:
        return [0]
    step = (frames - 1) / (seq_len - 1)
    if fault == "resampling":  # rounding instead of truncation
        picked = [int(i * step + 0.5) for i in range(seq_len)]
    else:
        picked = [int(i * step) for i in range(seq_len)]
    picked[-1] = frames - 1
    return picked


def app_normalise(points: list[list[float]], fault: str | None) -> list[list[float]]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    low_x, high_x, low_y, high_y = min(xs), max(xs), min(ys), max(ys)
    w, h = high_x - low_x, high_y - low_y
    margin = 0.0 if fault == "no margin" else 0.05
    if fault == "non-square box":
        dx, dy = 0.05 * w, 0.05 * h
    elif w > h:
        dx = margin * w
        dy = dx + (w - h) / 2
    else:
        dy = margin * h
        dx = dy + (h - w) / 2

    def unit(value: float) -> float:
        return min(max(value, 0.0), 1.0)

    box_x, box_y = (unit(low_x - dx), unit(high_x + dx)), (unit(low_y - dy), unit(high_y + dy))
    extent_x, extent_y = box_x[1] - box_x[0], box_y[1] - box_y[0]
    return [
        [
            (x - box_x[0]) / extent_x if extent_x > 0 else x,
            (y - box_y[0]) / extent_y if extent_y > 0 else y,
        ]
        for x, y in points
    ]


def swap_hands(frame: list) -> list:
    """The two hand groups exchanged (a layout without them: its first two 21-point blocks)."""
    groups = LAYOUT_GROUPS.get(len(frame), [(0, 20), (21, 41), (42, 62)])
    (a, b), (c, d) = groups[1], groups[2]
    return frame[:a] + frame[c : d + 1] + frame[b + 1 : c] + frame[a : b + 1] + frame[d + 1 :]


def app_prepare(raw, seq_len: int, num_keypoints: int, fault: str | None = None):
    """(keypoints [T][K][2], mask [T]) for one raw clip [frames][keypoints][coordinates]."""
    second = 2 if fault == "selection" else 1  # the wrong one keeps x and z
    frames = [[[point[0], point[second]] for point in frame] for frame in raw]
    if fault == "swapped hands":  # MediaPipe's handedness taken the wrong way round
        frames = [swap_hands(frame) for frame in frames]
    if fault != "clipping":
        frames = [[[min(max(v, 0.0), 1.0) for v in point] for point in frame] for frame in frames]
    if len(frames) > seq_len:
        frames = [frames[i] for i in app_indices(len(frames), seq_len, fault)]
    groups = LAYOUT_GROUPS.get(len(raw[0]), [(0, len(raw[0]) - 1)])
    normalised = []
    for frame in frames:
        out = []
        for first, last in groups:
            out += app_normalise(frame[first : last + 1], fault)
        normalised.append(out[:num_keypoints])
    valid = len(normalised)
    filler = normalised[-1] if fault == "padding" else [[0.0, 0.0]] * num_keypoints
    keypoints = normalised + [filler] * (seq_len - valid)
    return keypoints, [1] * valid + [0] * (seq_len - valid)


def run_app(vectors_file: Path, output: Path, fault: str | None = None) -> dict:
    """What a device test does: read the vectors, prepare every raw clip, write OUT."""
    vectors = json.loads(vectors_file.read_text())
    clips = []
    for clip in vectors["clips"]:
        bucket = app_bucket(clip["frames"], vectors["buckets"], fault)
        keypoints, mask = app_prepare(clip["raw"], bucket, vectors["num_keypoints"], fault)
        clips.append(
            {
                "name": clip["name"],
                "signature": f"seq_{bucket}",
                "keypoints": keypoints,
                "attention_mask": mask,
            }
        )
    document = {"format": "signbart-preprocessing-app-output", "format_version": 1}
    document["clips"] = clips
    output.write_text(json.dumps(document))
    return document


def first_difference(right: dict, wrong: dict) -> tuple[str, ...]:
    """Where two app outputs first part, in the words the check uses."""
    for good, bad in zip(right["clips"], wrong["clips"], strict=True):
        clip = f"clip '{good['name']}'"
        if good["signature"] != bad["signature"]:
            return clip, f"app ran it in {bad['signature']}"
        for frame, (good_frame, bad_frame) in enumerate(
            zip(good["keypoints"], bad["keypoints"], strict=True)
        ):
            if good["attention_mask"][frame] != bad["attention_mask"][frame]:
                return clip, f"frame {frame}: mask"
            for keypoint, (p, q) in enumerate(zip(good_frame, bad_frame, strict=True)):
                for coordinate in (0, 1):
                    if abs(p[coordinate] - q[coordinate]) > TOLERANCE:
                        axis = "xy"[coordinate]
                        return clip, f"frame {frame}, keypoint {keypoint}, coordinate {axis}:"
    raise AssertionError("the faulty app made the same output")


# ---------------------------------------------------------------- goldens


def _create(directory: Path, *args) -> Path:
    golden = directory / "golden.npz"
    done = run_in_process("golden", "create", *args, "--seq-len", BUCKETS, "--output", golden)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "golden.vectors.json: " in done.stdout
    return golden


@pytest.fixture(scope="module")
def default_golden(tmp_path_factory) -> Path:
    return _create(tmp_path_factory.mktemp("vectors90"), "--samples", SAMPLE)


@pytest.fixture(scope="module")
def golden100(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("vectors100")
    config, checkpoint = write_model(directory)
    sample = write_sample(directory, keypoints=100, frames=23)
    return _create(directory, "--config", config, "--checkpoint", checkpoint, "--samples", sample)


@pytest.fixture(params=["default-90", "model-100"])
def golden(request, default_golden: Path, golden100: Path) -> Path:
    return default_golden if request.param == "default-90" else golden100


def _vectors_file(golden: Path) -> Path:
    return golden.with_name("golden.vectors.json")


def _check(golden: Path, output: Path):
    return run_in_process(
        "golden", "check-preprocessing", "--golden", golden, "--app-output", output
    )


# ---------------------------------------------------------------- the tests


def test_vectors_cover_the_cases_where_apps_differ(golden: Path) -> None:
    vectors = json.loads(_vectors_file(golden).read_text())
    names = [clip["name"] for clip in vectors["clips"]]
    assert names[:4] == ["hand-missing", "group-collapsed", "edge-touching", "out-of-range"]
    lengths = {clip["frames"] for clip in vectors["clips"] if clip["source"] == "generated"}
    assert {1, 7, 8, 9, 15, 16, 17, 35} <= lengths
    assert any(name.startswith("linspace-trap-") for name in names)
    assert vectors["clips"][-1]["source"] == "real"
    chosen = {clip["frames"]: clip["signature"] for clip in vectors["clips"]}
    assert (chosen[8], chosen[9], chosen[16], chosen[35]) == ("seq_8", "seq_16", "seq_16", "seq_16")
    raw_values = [v for clip in vectors["clips"] for f in clip["raw"] for p in f for v in p[:2]]
    assert min(raw_values) < 0 and max(raw_values) > 1
    assert all(len(clip["raw"][0][0]) == 3 for clip in vectors["clips"])


def test_vectors_round_trip_and_agree_with_the_golden(default_golden: Path) -> None:
    import numpy as np

    from signbart_parity.checks.golden import load_goldens
    from signbart_parity.checks.vectors import load_vectors
    from signbart_parity.inputs.samples import PUBLISHED, load_sample

    vectors = load_vectors(default_golden)  # the .npz path finds its vectors beside it
    real = vectors.clips[-1]
    np.testing.assert_array_equal(real.raw, load_sample(SAMPLE).keypoints)
    for clip in vectors.clips:
        for name, expected in clip.expected.items():
            frames, mask = PUBLISHED(clip.raw, int(name.removeprefix("seq_")), 90)
            assert frames.tobytes() == expected.keypoints.tobytes(), (clip.name, name)
            np.testing.assert_array_equal(mask, expected.attention_mask)
    for golden in load_goldens(default_golden):  # the real sample is the golden's last row
        stored = real.expected[f"seq_{golden.seq_len}"]
        np.testing.assert_array_equal(stored.keypoints, golden.keypoints[-1])
        np.testing.assert_allclose(stored.logits, golden.logits[-1], atol=1e-5)


def test_the_correct_plain_python_app_matches(golden: Path, tmp_path: Path) -> None:
    run_app(_vectors_file(golden), tmp_path / "out.json")
    done = _check(golden, tmp_path / "out.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "preprocessing matches" in done.stdout


def test_the_app_needs_no_numpy(default_golden: Path, tmp_path: Path) -> None:
    """The device-test side runs with numpy unimportable and still passes the check."""
    output = tmp_path / "out.json"
    script = (
        "import sys; sys.modules['numpy'] = None\n"
        "from pathlib import Path\n"
        "from tests.test_preprocessing_vectors import run_app\n"
        f"run_app(Path({str(_vectors_file(default_golden))!r}), Path({str(output)!r}))\n"
    )
    root = Path(__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert _check(default_golden, output).returncode == 0


FAULTS = {
    "clipping": "clipping",
    "resampling": "resampling",
    "non-square box": "normalisation",
    "no margin": "normalisation",
    "selection": "selection",
    "swapped hands": "selection",
    "padding": "padding",
    "bucket choice": "bucket choice",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_wrong_step_is_caught_and_named(golden: Path, tmp_path: Path, fault: str) -> None:
    right = run_app(_vectors_file(golden), tmp_path / "right.json")
    wrong = run_app(_vectors_file(golden), tmp_path / "wrong.json", fault)
    done = _check(golden, tmp_path / "wrong.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PREPROCESSING DIFFERS" in done.stdout
    first = next(line for line in done.stdout.splitlines() if "first: " in line)
    for part in first_difference(right, wrong):
        assert part in first, (part, first)
    assert f"most likely step: {FAULTS[fault]} (" in done.stdout, done.stdout


def test_exit_codes(default_golden: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    document = run_app(_vectors_file(default_golden), good)
    assert _check(default_golden, good).returncode == 0
    document["clips"][0]["keypoints"][0][0][0] += 0.01
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    done = _check(default_golden, bad)
    assert done.returncode == 1 and "frame 0, keypoint 0, coordinate x" in done.stdout

    missing = one_error_line(_check(default_golden, tmp_path / "absent.json"))
    assert "absent.json: app output not found" in missing
    (tmp_path / "text.json").write_text("not json")
    assert "is not JSON" in one_error_line(_check(default_golden, tmp_path / "text.json"))
    wrong_form = {**document, "format": "something-else"}
    (tmp_path / "form.json").write_text(json.dumps(wrong_form))
    assert "app output must be a JSON object with format" in one_error_line(
        _check(default_golden, tmp_path / "form.json")
    )
    document["clips"].pop()
    (tmp_path / "short.json").write_text(json.dumps(document))
    line = one_error_line(_check(default_golden, tmp_path / "short.json"))
    assert "no output for clip 'real-0-user12_G10_R10'" in line
    document["clips"][0]["keypoints"] = [[1, 2], [3]]
    (tmp_path / "ragged.json").write_text(json.dumps(document))
    assert "regular nested lists" in one_error_line(
        _check(default_golden, tmp_path / "ragged.json")
    )
    line = one_error_line(_check(tmp_path / "nothing.npz", good))
    assert "nothing.vectors.json: preprocessing vectors not found" in line
    vectors = json.loads(_vectors_file(default_golden).read_text())
    del vectors["clips"][0]["expected"]
    (tmp_path / "broken.vectors.json").write_text(json.dumps(vectors))
    line = one_error_line(_check(tmp_path / "broken.vectors.json", good))
    assert "broken.vectors.json: preprocessing vectors are malformed" in line


def test_every_wrong_variant_is_blamed_on_its_own_step(golden: Path) -> None:
    """Each wrong variant the diagnosis knows, used as the app, is named as its step: no
    variant of one step is mistaken for another's on these clips."""
    from signbart_parity.checks.app_preprocessing import (
        AppClip,
        check_app_output,
        wrong_variants,
    )
    from signbart_parity.checks.vectors import load_vectors

    vectors = load_vectors(golden)

    def variants(clip) -> dict:
        return {
            name: (step, run) for step, name, run in wrong_variants(clip.raw, vectors.num_keypoints)
        }

    names = list(variants(vectors.clips[0]))
    caught = set()
    for name in names:
        app = {}
        for clip in vectors.clips:
            step, variant = variants(clip)[name]
            bucket = int(clip.signature.removeprefix("seq_"))
            frames, mask = variant(clip.raw, bucket, vectors.num_keypoints)
            app[clip.name] = AppClip(clip.name, clip.signature, frames.astype(float), mask)
        differences = check_app_output(vectors, app)
        if differences:
            assert differences[0].step == step, (name, differences[0])
            assert name in differences[0].reason, (name, differences[0])
            caught.add(name)
    # Exactly the variants that equal the published steps here pass: at seq_len 16 float64
    # linspace truncates as exact integers do for every length, and the 100-keypoint layout
    # is one group, so one box for all keypoints is its box.
    same = {"exact integer i * (frames - 1) // (seq_len - 1) instead of float64 linspace"}
    if vectors.num_keypoints == 100:
        same.add("one box for all keypoints instead of one per group")
    assert set(names) - caught == same
