"""``python -m bench.gpu_check``: the CUDA paths of the jobs, checked on a machine with a GPU.

CI has no GPU, so this is run by hand where one is lent. It prints one JSON object:
- the device and its description;
- the training benchmarks on CUDA (supervised ÷ bare loop, checkpoint stall ÷ synchronous save);
- an exact-resume check on CUDA (a job restored from its checkpoint replays the same losses);
- DDP over NCCL with the GPUs there are (one rank per device);
- shakespeare_char trained for ``--iters`` iterations: its validation loss and tokens/s;
- the upset scrub's cupy kernel against its numpy reference, and the SEU benchmarks on CUDA;
- the power governor's NVML side: the board's draw, temperature and cap range, and, where the
  process may, a cap set, read back and restored (``nvml_power``).
Exits non-zero when CUDA is not there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench import seu, training
from flight.jobs.batches import TokenData
from flight.jobs.ddp import train_ddp
from flight.jobs.device import select
from flight.jobs.shakespeare import prepared
from flight.jobs.trainer import Trainer, TrainSpec


def exact_resume(data: TokenData, out: Path, deterministic: bool = False) -> dict[str, Any]:
    """Whether a job restored from its checkpoint replays the same losses on CUDA (optionally with
    torch's deterministic algorithms, which exact rollback after an upset would need)."""
    spec = TrainSpec(config="shakespeare_char", max_iters=30, log_interval=1, checkpoint_interval=10,
                     sample_tokens=8, deterministic=deterministic)
    device = select("cuda")
    whole = Trainer(spec, data, device, out / "whole").run()
    first = Trainer(TrainSpec(**{**asdict(spec), "max_iters": 10}), data, device, out / "split")
    first.run()
    second = Trainer(spec, data, device, out / "split")
    second.resume()
    resumed = second.run()
    diffs = [abs(resumed.losses[s] - whole.losses[s]) for s in range(11, 31)]
    torch.use_deterministic_algorithms(False)  # the trainer set it for the process: not for the next checks
    return {"identical": all(d == 0 for d in diffs), "max_abs_diff": max(diffs)}


def seu_kernel() -> dict[str, Any]:
    """The cupy block-checksum kernel against its numpy reference (odd lengths, bf16, a tensor smaller
    than a block), and a flipped bit found in its block on the device."""
    from flight.seu.bitflip import flip_bit
    from flight.seu.block_checksum import BlockMap, byte_view, fletcher_reference
    from flight.seu.cuda_checksum import cuda_checksums

    torch.manual_seed(0)
    agree = {}
    for name, tensor in {"f32_3M": torch.randn(3_000_001), "bf16_odd": torch.randn(70_001).bfloat16(),
                         "f32_small": torch.randn(5), "i8_odd": torch.randint(-128, 127, (131_075,), dtype=torch.int8)
                         }.items():
        reference = fletcher_reference(byte_view(tensor).numpy(), 1 << 16).view("int64")
        device = cuda_checksums(tensor.cuda(), 1 << 16).cpu().numpy()
        agree[name] = bool((reference == device).all())
    live = {"w": torch.randn(1_000_000, device="cuda")}
    blocks = BlockMap(live)
    sealed = blocks.checksums()
    flip_bit(live["w"], 500_000, 30)
    return {"matches_reference": agree, "flip_found": blocks.differing(sealed, blocks.checksums()) == [("w", 30)]}


def gemma(path: Path) -> dict[str, Any]:
    """Gemma 3 on CUDA per weight format: greedy ids against transformers' (fp32, CPU) on the six recorded
    prompts, as the length of the agreeing prefix of 32, and the decode speed of 128 tokens."""
    from flight.jobs.gemma.decode import generate
    from flight.jobs.gemma.gguf_file import GGUFFile
    from flight.jobs.gemma.model import load_model

    fixture = json.loads((Path(__file__).parents[1] / "tests" / "flight" / "jobs" / "gemma" / "fixtures"
                          / "greedy_reference.json").read_text())
    gguf = GGUFFile.open(path)
    out: dict[str, Any] = {}
    for weights in ("bf16", "fp32", "gguf"):
        began = time.perf_counter()
        model = load_model(weights=weights, device="cuda", gguf=gguf)
        load_s = time.perf_counter() - began
        agree = {}
        for prompt in fixture["prompts"]:
            ids = generate(model, prompt["prompt_ids"], len(prompt["ids"]), eos_id=-1).ids
            agree[prompt["name"]] = next((i for i, (a, b) in enumerate(zip(ids, prompt["ids"], strict=True))
                                          if a != b), len(ids))
        runs = [generate(model, fixture["prompts"][0]["prompt_ids"], 128, eos_id=-1) for _ in range(3)]
        out[weights] = {"agreeing_prefix_of_32": agree, "load_s": round(load_s, 2),
                        "tokens_per_s": max(r.tokens_per_s for r in runs), "ttft_s": min(r.ttft_s for r in runs)}
        del model
        torch.cuda.empty_cache()
    return out


def nvml_power() -> dict[str, Any]:
    """What the governor reads through NVML while the GPU works, and a cap set and restored where allowed."""
    from flight.power.nvml_gpu import GpuPowerError, NvmlGpu

    gpu = NvmlGpu(control=True)
    idle = gpu.read()
    x = torch.randn(8192, 8192, device="cuda")
    for _ in range(300):  # seconds of matrix products queued: the board's draw must rise
        x = torch.tanh(x @ x * 1e-4)
    time.sleep(2.0)  # NVML's power reading is an average over about a second: read it mid-work
    busy = gpu.read()
    torch.cuda.synchronize()
    out: dict[str, Any] = {"cap_range_w": gpu.cap_range_w, "default_cap_w": gpu.default_cap_w,
                           "idle": asdict(idle), "busy": asdict(busy), "draw_rises": busy.draw_w > idle.draw_w}
    target = max(gpu.cap_range_w[0], gpu.default_cap_w / 2)
    try:
        gpu.set_cap(target)
        out["cap_set"] = {"asked_w": target, "enforced_w": gpu.read().cap_w}
    except GpuPowerError as exc:
        out["cap_set"] = {"asked_w": target, "refused": str(exc)}
    finally:
        gpu.close()
    again = NvmlGpu()
    out["cap_after_close_w"] = again.read().cap_w  # the default again, if the cap was set
    again.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__)
    parser.add_argument("--iters", type=int, default=2000, help="shakespeare_char iterations (default 2000)")
    parser.add_argument("--gemma", type=Path, help="the Gemma 3 GGUF: check its CUDA paths too")
    args = parser.parse_args(argv)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts, for the deterministic check
    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        return 1
    report: dict[str, Any] = {"device": select("cuda").describe(), "torch": torch.__version__,
                              "gpus": torch.cuda.device_count()}
    data = TokenData.open(prepared())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name, check in (("benchmarks", lambda: [asdict(r) for r in training.run("cuda")]),
                            ("exact_resume", lambda: exact_resume(data, out / "resume")),
                            ("seu_kernel", seu_kernel),
                            ("nvml_power", nvml_power),
                            ("seu_benchmarks", lambda: [asdict(r) for r in seu.run("cuda")]),
                            ("exact_resume_deterministic", lambda: exact_resume(data, out / "det", True)),
                            ("gemma", lambda: gemma(args.gemma) if args.gemma else "not asked"),
                            ("ddp_nccl", lambda: asdict(train_ddp(
                                TrainSpec(config="shakespeare_char", max_iters=50, log_interval=10,
                                          checkpoint_interval=50, sample_tokens=8),
                                prepared(), torch.cuda.device_count(), "cuda", out / "ddp")))):
            began = time.perf_counter()
            try:
                report[name] = check()
            except Exception as exc:  # every check reports, whatever one of them does
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            report[f"{name}_s"] = round(time.perf_counter() - began, 1)
            print(json.dumps({name: report[name]}), flush=True)
        began = time.perf_counter()
        spec = TrainSpec(config="shakespeare_char", max_iters=args.iters, log_interval=100, checkpoint_interval=500)
        result = Trainer(spec, data, select("cuda"), out / "char").run()
        report["shakespeare_char"] = {**result.as_dict(), "wall_s": round(time.perf_counter() - began, 1),
                                      "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
