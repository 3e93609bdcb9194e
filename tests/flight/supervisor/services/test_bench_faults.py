"""The keyed bench fault interface in the supervisor: each fault carried out, every bad request refused and counted.

The service is driven through ``Supervisor.on_fault_request`` (as the process loop calls it), the job
workers are the fake ones of test_jobs, and the GPU is the simulated ECC source. The last test goes
through the real REP socket with the ``hil seu inject`` client.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from flight.jobs.checkpoint import CheckpointError, decode
from flight.link.keys import KeyRing
from flight.seu.ecc_source import SimulatedEcc
from flight.supervisor.fault_request import KEY_ID, seal
from flight.supervisor.process import _serve_faults, bind_fault_socket
from flight.supervisor.services.bench_faults import SEQ_KEY, flip_file_bit
from flight.supervisor.services.ecc import POLL_PERIOD
from hil.cli import main as hil_main
from hil.seu_inject import FaultClient, NoReply
from tests.flight.jobs.test_checkpoint import valid

from .._harness import Harness, events, hk_reports
from .test_jobs import Bench, make_bench

KEY = bytes(range(32))
SEU_SID = 4
FLIP = {"job": 1, "target": "param", "bits": "exponent", "seed": 4, "at": []}


class Faults(Bench):
    seq: int = 0

    def request(self, kind: str, key: bytes = KEY, seq: int | None = None, **fields: Any) -> dict[str, Any]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return msgpack.unpackb(self.harness.supervisor.on_fault_request(seal(key, kind, seq, **fields)))

    def counts(self) -> tuple[int, int]:
        return self.harness.counter("faults.accepted"), self.harness.counter("faults.rejected")


@pytest.fixture
def gpu() -> SimulatedEcc:
    return SimulatedEcc()


@pytest.fixture
def faults(make_harness: Callable[..., Harness], gpu: SimulatedEcc, monkeypatch: pytest.MonkeyPatch) -> Faults:
    made: Faults = make_bench(make_harness, monkeypatch, Faults, ecc_source=gpu, bench_key=KEY)
    return made


def bench_events(faults: Faults) -> list[tuple[str, dict[str, Any]]]:
    return [e for e in events(faults.harness.downlink()) if e[0] in ("BENCH_FAULT", "SEU_INJECTED", "ECC_COUNT_CHANGED",
                                                                      "GPU_RESET_REQUESTED")]


def test_an_ecc_fault_is_counted_by_the_simulated_gpu_and_read_by_the_monitor(faults: Faults) -> None:
    faults.tick(POLL_PERIOD)  # the monitor's silent baseline
    faults.harness.downlink()
    assert faults.request("ecc", corrected=3, uncorrected=0, xid=0) == {
        "ok": True, "reason": "", "detail": "corrected +3, uncorrected +0"}
    faults.tick(POLL_PERIOD)
    assert bench_events(faults) == [
        ("BENCH_FAULT", {"kind": "ecc", "detail": "corrected +3, uncorrected +0"}),
        ("ECC_COUNT_CHANGED", {"counter": "corrected_volatile", "before": 0, "after": 3}),
        ("ECC_COUNT_CHANGED", {"counter": "corrected_aggregate", "before": 0, "after": 3})]
    worker = faults.running()
    assert faults.request("ecc", corrected=0, uncorrected=1, xid=48)["ok"]
    faults.tick(POLL_PERIOD)
    assert worker.kills == 1  # uncorrectable: the job restarts from its checkpoint
    assert faults.counts() == (2, 0)


def test_an_ecc_fault_is_refused_where_the_gpu_is_not_the_simulation(make_harness: Callable[..., Harness]) -> None:
    bench = Faults(make_harness(ecc_source=None, bench_key=KEY), [])
    answer = bench.request("ecc", corrected=1, uncorrected=0, xid=0)
    assert answer == {"ok": False, "reason": "refused",
                      "detail": "the ECC source is none: only the simulated GPU counts injected errors"}
    assert bench.counts() == (0, 1) and bench.harness.counter("faults.rejected_refused") == 1


def test_a_flip_goes_to_the_running_job_only(faults: Faults) -> None:
    assert faults.request("flip", **FLIP) == {"ok": False, "reason": "refused", "detail": "job 1 is not running"}
    faults.running()
    faults.harness.downlink()
    answer = faults.request("flip", **FLIP)
    assert answer["ok"] and answer["detail"] == "job 1: a exponent bit of param, seed 4"
    chosen = {**FLIP, "target": "param.wte.weight", "at": [12, 30]}
    assert faults.request("flip", **chosen)["detail"] == "job 1: a exponent bit of param.wte.weight, [12] bit 30"
    assert faults.injections == [(1, {k: v for k, v in FLIP.items() if k != "job"}),
                                 (1, {k: v for k, v in chosen.items() if k != "job"})]
    assert [e[0] for e in bench_events(faults)] == ["BENCH_FAULT", "BENCH_FAULT"]


def test_a_checkpoint_fault_flips_one_bit_of_the_newest_generation_which_then_fails_to_load(faults: Faults) -> None:
    assert faults.request("checkpoint", job=1, seed=1)["detail"] == "job 1 has no checkpoint on disk"
    directory = faults.harness.supervisor.jobs.job_dir(1) / "checkpoints"
    directory.mkdir(parents=True)
    for step in (8, 16):
        (directory / f"step-{step:09d}.safetensors").write_bytes(valid())
    faults.harness.downlink()
    answer = faults.request("checkpoint", job=1, seed=7)
    assert answer["ok"]
    [(_, injected)] = [e for e in bench_events(faults) if e[0] == "SEU_INJECTED"]
    assert injected["job"] == 1 and injected["step"] == 16 and injected["target"] == "checkpoint step-000000016.safetensors"
    newest, older = (directory / "step-000000016.safetensors").read_bytes(), (directory / "step-000000008.safetensors")
    assert older.read_bytes() == valid()
    differing = [i for i, (a, b) in enumerate(zip(newest, valid(), strict=True)) if a != b]
    assert differing == [injected["element"]] and newest[differing[0]] ^ valid()[differing[0]] == 1 << injected["bit"]
    with pytest.raises(CheckpointError):
        decode(newest)


def test_flip_file_bit_is_seeded(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(1000))
    where = flip_file_bit(path, random.Random(3))
    assert where == flip_file_bit(path, random.Random(3)) and path.read_bytes() == bytes(1000)  # twice: undone


def test_forged_replayed_and_malformed_requests_are_refused_counted_and_change_nothing(faults: Faults,
                                                                                     gpu: SimulatedEcc) -> None:
    ecc = {"corrected": 1, "uncorrected": 1, "xid": 79}
    assert faults.request("ecc", key=bytes(32), **ecc)["reason"] == "unauthenticated"
    assert faults.request("ecc", seq=10, **ecc)["ok"]
    assert faults.request("ecc", seq=10, **ecc)["reason"] == "replayed"
    assert faults.request("ecc", seq=9, **ecc)["reason"] == "replayed"
    assert faults.request("ecc", seq=11, corrected=1)["reason"] == "invalid"
    garbage = msgpack.unpackb(faults.harness.supervisor.on_fault_request(b"\xc1\x00"))
    assert garbage["reason"] == "malformed" and not garbage["ok"]
    assert gpu.read().counts()["uncorrected_volatile"] == 1  # only the one accepted
    assert faults.counts() == (1, 5)
    assert {name: faults.harness.counter(f"faults.rejected_{name}") for name in
            ("unauthenticated", "replayed", "invalid", "malformed")} == {
        "unauthenticated": 1, "replayed": 2, "invalid": 1, "malformed": 1}
    faults.harness.restart()  # the last sequence is kept: a replay after a restart is still a replay
    assert faults.harness.db.get(SEQ_KEY) == 10  # the accepted one's; an invalid body spends no number
    assert faults.request("ecc", seq=10, **ecc)["reason"] == "replayed"


def test_the_fault_counters_feed_the_seu_housekeeping_report(faults: Faults) -> None:
    faults.request("ecc", corrected=1, uncorrected=0, xid=0)
    faults.request("ecc", key=bytes(32), corrected=1, uncorrected=0, xid=0)
    faults.harness.downlink()
    faults.tick(2.0)
    report = hk_reports(faults.harness.downlink(), SEU_SID)[-1]
    assert report["faults.accepted"] == 1 and report["faults.rejected"] == 1


def test_without_a_key_the_interface_refuses_everything(make_harness: Callable[..., Harness]) -> None:
    bench = Faults(make_harness(ecc_source=SimulatedEcc()), [])
    assert bench.request("ecc", corrected=1, uncorrected=0, xid=0)["detail"].startswith("the bench fault interface is off")


def test_the_hil_client_injects_through_the_real_socket(faults: Faults, tmp_path: Path, gpu: SimulatedEcc,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``hil seu inject`` with a mission file naming the key, against the supervisor's REP socket."""
    ctx = zmq.Context()
    socket = bind_fault_socket(ctx, "tcp://127.0.0.1:*")
    port = int(socket.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
    KeyRing({KEY_ID: KEY}).save(tmp_path / "bench-key.json")
    mission = tmp_path / "mission.toml"
    mission.write_text(f'[flight]\nbench_key_file = "bench-key.json"\nfaults = "bind:tcp://127.0.0.1:{port}"\n')
    stop = threading.Event()
    codes: list[int] = []

    def bench_side() -> None:
        codes.append(hil_main(["seu", "inject", "--mission", str(mission), "ecc", "--corrected", "2"]))
        codes.append(hil_main(["seu", "inject", "--mission", str(mission), "flip", "--job", "5"]))
        stop.set()

    client = threading.Thread(target=bench_side)
    client.start()
    try:
        while not stop.is_set():
            _serve_faults(socket, faults.harness.supervisor)
            stop.wait(0.005)
    finally:
        client.join(10)
        socket.close()
        ctx.term()
    assert codes == [0, 1]  # carried out; refused (no job 5)
    lines = capsys.readouterr().out.splitlines()
    assert '"ok": true' in lines[0] and "job 5 is not running" in lines[1]
    assert gpu.read().counts()["corrected_volatile"] == 2


def test_the_client_says_so_when_no_supervisor_answers() -> None:
    client = FaultClient("tcp://127.0.0.1:9", KEY, timeout_s=0.2)
    try:
        with pytest.raises(NoReply, match="no reply"):
            client.send("ecc", corrected=1, uncorrected=0, xid=0)
    finally:
        client.close()


@pytest.mark.parametrize(("argv", "message"), [
    (["flip", "--job", "-1"], "--job -1"),
    (["flip", "--job", "1", "--at", "3"], "ELEMENT,BIT"),
    (["ecc", "--xid", "99999999999"], "--xid"),
])
def test_bad_options_are_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    assert hil_main(["seu", "inject", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_mission_without_a_bench_key_cannot_inject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mission = tmp_path / "mission.toml"
    mission.write_text("[flight]\n")
    assert hil_main(["seu", "inject", "--mission", str(mission), "ecc", "--corrected", "1"]) == 2
    assert "no [flight] bench_key_file" in capsys.readouterr().err


def test_keygen_writes_a_private_key_file_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench-key.json"
    assert hil_main(["seu", "keygen", str(path)]) == 0
    assert len(KeyRing.load(path).get(KEY_ID)) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert hil_main(["seu", "keygen", str(path)]) == 2
    assert "never overwritten" in capsys.readouterr().err
