"""Progress bars show on a terminal's stderr only; stdout and logs never see them."""

from __future__ import annotations

import io

from facts.progress import StepProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_steps_move():
    stream = _Terminal()
    with StepProgress("epochs", 3, stream=stream) as bar:
        assert bar.active
        bar.advance("accuracy 0.5000", to=2)
        bar.advance("accuracy 0.6000")
    drawn = stream.getvalue()
    assert "epochs" in drawn and "3/3" in drawn


def test_a_pipe_or_a_log_sees_nothing():
    stream = io.StringIO()  # not a terminal: CI, Katib's collector, a redirected log
    with StepProgress("epochs", 3, stream=stream) as bar:
        assert not bar.active
        bar.advance("x")
    assert stream.getvalue() == ""


def test_the_trainers_bar_follows_the_epochs_without_touching_stdout(capsys, monkeypatch):
    """A resumed run starts its bar past zero; the Katib lines on stdout are unchanged."""
    from workloads.cifar10 import train
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.loop import EpochResult

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    cfg = parse_args(["--data", "synthetic", "--epochs", "3", "--run-id", "t",
                      "--model-dir", "/tmp/mlp-progress-test"], environ={})
    reporter = train.EpochReporter(cfg, {}, is_chief=True)
    for epoch in (2, 3):
        reporter(EpochResult(epoch, {"accuracy": 0.5, "val_accuracy": 0.25}))
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["epoch=2", "epoch=3"]
    assert "accuracy 0.2500" in terminal.getvalue() and "3/3" in terminal.getvalue()
