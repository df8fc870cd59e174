"""`--profile`'s top table from py-spy's collapsed stacks: self, cumulative, scaled to the CPU."""

from __future__ import annotations

from pathlib import Path

from bench.cpu_profile import tally, top

STACKS = "\n".join(
    [
        "main (m.py:1);loop (m.py:5);call (sdk.py:9);sign (sdk.py:20) 6",
        "main (m.py:1);loop (m.py:5);call (sdk.py:9) 2",
        "main (m.py:1);loop (m.py:5);loop (m.py:5);parse (c.py:3) 2",
        " 50",  # an idle sample with no Python frame: not work
    ]
)


def test_self_is_the_running_frame_and_cumulative_counts_a_recursion_once(tmp_path: Path) -> None:
    stacks = tmp_path / "profile.txt"
    stacks.write_text(STACKS)
    own, anywhere, total = tally(stacks)
    assert total == 10
    assert own == {"sign (sdk.py:20)": 6, "call (sdk.py:9)": 2, "parse (c.py:3)": 2}
    assert anywhere["loop (m.py:5)"] == 10
    assert anywhere["call (sdk.py:9)"] == 8


def test_the_table_shares_out_the_kernel_s_cpu_time(tmp_path: Path) -> None:
    stacks = tmp_path / "profile.txt"
    stacks.write_text(STACKS)
    # 10 samples over 2 s of CPU and 1,000 commands: a sample is 200 ms, 200 us per command.
    text = top(stacks, commands=1000, cpu_s=2.0, count=1)
    assert "2.00 ms per command" in text
    lines = text.splitlines()
    assert lines[3].split() == ["1200", "1200.0", "60.0%", "sign", "(sdk.py:20)"]
    assert lines[6].split()[:3] == ["2000", "2000.0", "100.0%"]
