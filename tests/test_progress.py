"""Progress lines: rate-limited, prefixed in the kernel, forwarded to the terminal by the notebook runner."""

from __future__ import annotations

import io

from irprune.progress import PREFIX, Progress, TerminalEcho, emit


def test_progress_prints_first_last_and_at_most_one_line_per_interval():
    now = [0.0]
    lines: list[str] = []
    bar = Progress("train conv_knrm", total=100, every_s=10.0, clock=lambda: now[0], sink=lines.append)
    for step in range(1, 101):
        now[0] = step * 0.5                       # 50 s in all: the first, one per 10 s, and the last
        bar.step(step, loss=1.0 / step)
    assert len(lines) == 6 and lines[0].startswith("train conv_knrm: step 1/100 (1%), loss 1")
    assert lines[-1].startswith("train conv_knrm: step 100/100 (100%)")
    bar.note("step 100: dev mrr@10 = 0.5000 (best)")
    assert lines[-1] == "train conv_knrm: step 100: dev mrr@10 = 0.5000 (best)"


def test_the_runner_forwards_only_progress_lines(capsys, monkeypatch):
    out = io.StringIO()
    echo = TerminalEcho(out)
    echo.write("a warning\n" + PREFIX + "mlm pretraining: step 3/9")
    echo.write(" (33%)\nnoise\r\n")
    assert out.getvalue() == "mlm pretraining: step 3/9 (33%)\n"
    monkeypatch.setenv("IRPRUNE_PROGRESS", "0")
    emit("hidden")
    assert capsys.readouterr().err == ""
