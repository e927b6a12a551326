"""load_config accepts published configs and names the file in every error."""

from __future__ import annotations

import pytest

from signbart_parity.errors import ConfigError
from signbart_parity.model.config import load_config
from tests.helpers import CONFIG, write_config, write_text


def test_loads_the_upstream_config():
    config = load_config(CONFIG)

    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (144, 2, 2)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (8, 8)
    assert (config.encoder_ffn_dim, config.max_position_embeddings) == (144, 256)
    assert config.num_labels == 10
    assert config.joint_idx == tuple(range(90))
    assert config.num_keypoints == config.min_input_keypoints == 90
    assert config.classifier_dropout == pytest.approx(0.7)


def test_tolerates_unknown_keys_and_comments(tmp_path):
    path = write_config(
        tmp_path,
        data={"root": "data/arabic-asl", "label2id": "label2id.json"},
        keypoint_config={"pose": [0, 22], "left_hand": [23, 43]},
        pe="learn",
        epochs=200,
    )
    path.write_text("# trained on MLR511\n" + path.read_text(encoding="utf-8"), encoding="utf-8")

    assert load_config(path) == load_config(CONFIG)


BAD_CONFIGS = {
    "missing file": (lambda d: d / "absent.yaml", "not found"),
    "not YAML": (lambda d: write_text(d, "c.yaml", "d_model: [144\nheads: 8\n"), "not valid YAML"),
    "a list": (lambda d: write_text(d, "c.yaml", "- d_model\n- 144\n"), "got list"),
    "empty": (lambda d: write_text(d, "c.yaml", ""), "must be a YAML mapping"),
    "missing key": (lambda d: write_config(d, drop=["d_model"]), "'d_model' is missing"),
    "d_model a string": (lambda d: write_config(d, d_model="144"), "'d_model' must be a positive"),
    "zero layers": (lambda d: write_config(d, encoder_layers=0), "'encoder_layers' must be"),
    "boolean heads": (lambda d: write_config(d, decoder_attention_heads=True), "must be"),
    "dropout 1.5": (lambda d: write_config(d, dropout=1.5), "'dropout' must be a probability"),
    "empty joint_idx": (lambda d: write_config(d, joint_idx=[]), "'joint_idx' must be"),
    "negative joint": (lambda d: write_config(d, joint_idx=[0, -1]), "'joint_idx' must be"),
    "heads do not divide": (
        lambda d: write_config(d, d_model=100),
        "d_model 100 is not divisible by encoder_attention_heads 8",
    ),
    "decoder heads": (
        lambda d: write_config(d, decoder_attention_heads=7),
        "not divisible by decoder_attention_heads 7",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_raises_config_error_naming_the_file(case, tmp_path):
    make, expected = BAD_CONFIGS[case]
    path = make(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_yaml_error_reports_the_line(tmp_path):
    path = write_text(tmp_path, "c.yaml", "d_model: 144\nheads: [8\nnum_labels: 10\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path)


def test_a_long_seq_len_is_warned_about_with_its_memory_before_any_work(tmp_path):
    from signbart_parity.model.config import LongSequenceWarning

    config = load_config(write_config(tmp_path, max_position_embeddings=4096))
    with pytest.warns(LongSequenceWarning, match=r"seq_len 4096 needs about 12 GB of memory"):
        assert config.check_seq_lens((16, 4096)) == (16, 4096)
    with pytest.warns(LongSequenceWarning, match=r"seq_len 2048 needs about 3 GB"):
        config.check_seq_lens(2048)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a usual length: nothing said
        config.check_seq_lens((16, 64, 1024))


def test_the_cli_says_the_warning_as_one_line(tmp_path):
    from tests.cli import run_in_process
    from tests.helpers import write_model

    config, checkpoint = write_model(tmp_path, max_position_embeddings=4096)
    done = run_in_process(
        "evaluate", "--config", config, "--checkpoint", checkpoint, "--seq-len", "4096",
        "--data", tmp_path / "no-such-folder",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    warned = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert warned == [
        "signbart-parity: warning: seq_len 4096 needs about 12 GB of memory at the default "
        "model's size (attention grows with the square of the length; 12 GB measured at 4096); "
        "check the machine has it, or use the length the app sends"
    ]
