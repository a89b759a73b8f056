"""training/data.py: synthetic sets are reproducible and disjoint, converters match the trainers' formats,
the offline rule fails loudly, a mirror folder is read, and Guru rows route to the right reward domain."""

import json

import pytest

from suites._data import DataError
from training import data
from training.chat_template import AM_THINKING_SYSTEM_PROMPT, follows_format
from training.data import am_to_messages, guru_domain, guru_to_prompt, load_rows


def test_synthetic_files_regenerate_byte_identical():
    for name, text in data.synthetic_files().items():
        assert (data.DATA_DIR / name).read_text(encoding="utf-8") == text, f"{name}: run python -m training.data"


def test_synthetic_sets_are_disjoint_and_answers_are_right():
    sft = [r["conversations"][0]["value"].split("\n")[0] for r in load_rows("arith-sft")]
    rl = [r["extra_info"]["problem"] for r in load_rows("arith-grpo")]
    held = [r["problem"] for r in data.heldout_records()]
    assert len(set(sft)) == len(sft) == 512 and len(set(rl)) == len(rl) == 2000 and len(set(held)) == len(held) == 200
    assert not (set(held) & set(rl)) and not (set(held) & set(sft)) and not (set(rl) & set(sft))
    for row in load_rows("arith-grpo")[:50]:
        expr = row["extra_info"]["problem"].removeprefix("What is ").removesuffix("?")
        assert str(eval(expr)) == row["reward_model"]["ground_truth"]  # noqa: S307 - our own generated digits


def test_checked_sha256_of_committed_files(tmp_path, monkeypatch):
    (tmp_path / "arith_sft.jsonl").write_text((data.DATA_DIR / "arith_sft.jsonl").read_text().replace("4 + 2", "4 + 3"))
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(DataError, match="sha256"):
        load_rows("arith-sft")


def test_am_thinking_conversation_to_messages():
    row = load_rows("arith-sft", limit=1)[0]
    messages = am_to_messages(row, "am-thinking")["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == AM_THINKING_SYSTEM_PROMPT
    assert follows_format(messages[2]["content"])
    own_system = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"},
                                    {"from": "assistant", "value": "A"}]}
    assert [m["content"] for m in am_to_messages(own_system, "k2think")["messages"]] == ["S", "Q", "A"]
    with pytest.raises(DataError, match="unknown role"):
        am_to_messages({"conversations": [{"from": "robot", "value": "x"}]}, "none")


def test_guru_rows_route_like_reasoning360():
    assert guru_domain("math__combined_54.4k") == "math"
    assert guru_domain("codegen__taco_8.8k") == "code"
    assert guru_domain("table__hitab_4.3k") == "math"  # Reasoning360 grades tables with math_verify
    assert guru_domain("zebra_puzzle_dataset") == "logic"
    assert guru_domain("stem_web") == "stem"
    with pytest.raises(DataError, match="no reward routing"):
        guru_domain("poetry__sonnets")
    row = {"data_source": "codegen__taco_8.8k", "prompt": [{"role": "user", "content": "Write f"}],
           "reward_model": {"ground_truth": {"inputs": ["1"], "outputs": ["2"]}}}
    out = guru_to_prompt(row, "none")
    assert out["prompt"] == [{"role": "user", "content": "Write f"}] and out["domain"] == "code"
    assert json.loads(out["answer"]) == {"inputs": ["1"], "outputs": ["2"]}


def test_offline_mirror_rule(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("K2BENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="not in the offline mirror"):
        load_rows("am-thinking", limit=2)
    # a mirror folder laid out like the hub repo is read: one Guru file, as parquet
    folder = tmp_path / "training" / "guru-RL-92k" / data.SOURCES["guru"].revision / "train"
    folder.mkdir(parents=True)
    rows = [{"data_source": "math__combined_54.4k", "prompt": [{"role": "user", "content": f"1+{i}?"}],
             "ability": "math", "reward_model": {"ground_truth": str(1 + i), "style": "rule"}} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "math__combined_54.4k.parquet")
    ds = data.rl_dataset("guru", files=["train/math__combined_54.4k.parquet"], system_prompt_name="none")
    assert ds["answer"] == ["1", "2", "3"] and set(ds["domain"]) == {"math"}
    with pytest.raises(DataError, match=r"mirror file\(s\) missing: .*codegen__taco"):
        load_rows("guru", files=["train/codegen__taco_8.8k.parquet"])
    with pytest.raises(DataError, match="unknown files"):
        load_rows("guru", files=["train/mine.jsonl"])


def test_unpinned_revision_is_refused():
    with pytest.raises(DataError, match="not a commit sha"):
        load_rows("am-thinking", revision="main")
