"""Record greedy ids from an independent Gemma 3 implementation (transformers) as a test fixture.

Run with the reference venv, not the project's (pytest does not collect this file: it is not named
``test_*``)::

    /work/scratch/refvenv/bin/python tests/flight/jobs/gemma/record_greedy_reference.py

It loads the same GGUF the flight code uses through ``transformers`` (its own GGUF reader, its own
tokenizer conversion, its own Gemma 3 modelling code), in fp32, and writes for each prompt the prompt
ids (BOS included), the greedy new ids, and per step the margin between the best and second-best
logit, so that a divergence of ours can be told apart from a near-tie in the reference.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

GGUF = Path.home() / ".cache" / "zenith" / "gemma3" / "gemma3-270m-q4_k_m.gguf"
OUT = Path(__file__).with_name("fixtures") / "greedy_reference.json"
NEW_TOKENS = 32

# Long enough (over 600 tokens) that the sliding-window layers (512 positions) must drop early keys.
LONG_PASSAGE = " ".join([
    "The station had been in orbit for eleven years when the first payload computer with a real graphics "
    "processor arrived on the cargo flight.",
    "Nobody on the ground team expected it to survive the radiation for long, and the engineers who had "
    "built it said so openly in every review.",
    "The computer was small, about the size of a paperback book, and it drew less power than the heaters "
    "that kept the battery packs warm during eclipse.",
    "Its job was simple to describe and hard to do: read the images that the cameras took of the clouds, "
    "the oceans and the farmland below, decide which of them were worth sending down, and compress the rest.",
    "The downlink was narrow, a few megabits per second for ten minutes at a time, four or five times a day, "
    "and every picture that went down had to earn its place.",
    "In the first week the computer rebooted twice, once when the station passed through the South Atlantic "
    "Anomaly and once for a reason that nobody ever found.",
    "The flight software team wrote a watchdog that counted the reboots, kept the last good model weights in "
    "two places, and checked every tensor against a checksum before the job was allowed to start again.",
    "After that the computer ran for months without a fault.",
    "The operators grew fond of it, and they started to send it small questions in the commanding window, "
    "not only images: which of the three cameras had the clearest view of the coast, whether a storm system "
    "was growing or fading, how much of the field below was still covered in snow.",
    "The answers came back in the telemetry a few orbits later, short and precise, and most of them were right.",
    "One night, during a long pass over the Pacific, the duty operator typed a greeting instead of a command, "
    "just to see what would happen.",
    "The reply arrived twenty minutes later, when the station came back into view of the ground antenna.",
    "It said that the computer was well, that the batteries were at ninety percent, that the temperature of "
    "the processor was within limits, and that the view of the ocean was very beautiful tonight.",
    "The operator printed the message and pinned it to the wall of the control room, where it stayed for "
    "many years after the mission had ended.",
    "Later missions carried larger processors and larger models, and they did far more than the first one "
    "ever could.",
    "They planned their own observations, they scheduled their own downlinks, and they negotiated with the "
    "power system over how much energy each job was allowed to use during an eclipse.",
    "But the engineers who had built the first computer still told the story of the greeting, and of the "
    "reply that came back from orbit, whenever a new team joined the project.",
    "They said it reminded them why they had chosen the work in the first place: to build machines that "
    "keep working far away from any human hand, in the cold and the dark and the radiation, and that still "
    "have something useful to say when they are asked.",
    "The station itself was eventually retired, lowered slowly into the upper atmosphere over a period of "
    "many months, and it burned up over an empty stretch of the southern ocean on a clear winter morning.",
    "The ground team gathered in the control room to watch the last telemetry arrive.",
    "The final frame contained the temperatures, the voltages, the attitude of the station, and a short "
    "line of text from the payload computer, which had been left running until the very end.",
    "Nobody had asked it anything that day.",
    "The line of text said only that the view was very beautiful, and that it had been an honour to work "
    "with all of them.",
    "Years later, students who visited the control room would ask about the yellowed sheet of paper on the "
    "wall, and the old operators would tell them the story again, adding a little more each time, until it "
    "was hard to say which parts had really happened and which had only been wished for.",
    "What is certain is that the logs survive, and that anyone can read them.",
    "They show the reboots in the first week, the months without a fault, the questions and the answers, "
    "and the greeting on the night over the Pacific.",
    "They show the last frame too.",
    "Now, in your own words, summarise what happened to the first payload computer, and explain why the "
    "engineers kept telling its story:",
])

PROMPTS = {
    "orbit": "Hello from orbit! To the ground team:",
    "planet": "Greetings from the blue and green planet. Today the weather over the ocean is",
    "shakespeare": "Shall I compare thee to a summer's day? Thou art more lovely and more",
    "code": "def fibonacci(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "numbers": "1, 1, 2, 3, 5, 8, 13, 21, 34,",
    "long": LONG_PASSAGE,
}


def main() -> int:
    torch.manual_seed(0)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(GGUF.parent, gguf_file=GGUF.name)
    model = AutoModelForCausalLM.from_pretrained(GGUF.parent, gguf_file=GGUF.name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    print(f"loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    records = []
    for name, text in PROMPTS.items():
        prompt_ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        assert prompt_ids[0] == tokenizer.bos_token_id, "the reference tokenizer must add BOS"
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True)
        new_ids = out.sequences[0, len(prompt_ids):].tolist()
        margins = []
        for scores in out.scores:  # raw logits under greedy (no processors change them)
            top2 = torch.topk(scores[0].float(), 2).values
            margins.append(round(float(top2[0] - top2[1]), 4))
        records.append({"name": name, "text": text, "prompt_ids": prompt_ids, "ids": new_ids,
                        "margins": margins, "completion": tokenizer.decode(new_ids)})
        print(f"{name}: {len(prompt_ids)} prompt ids, {len(new_ids)} new in {time.perf_counter() - t0:.1f} s: "
              f"{tokenizer.decode(new_ids)!r}", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "source": f"transformers {transformers.__version__}, torch {torch.__version__}, fp32, eager attention, "
                  f"greedy, {GGUF.name}",
        "new_tokens": NEW_TOKENS, "bos_id": tokenizer.bos_token_id, "eos_id": tokenizer.eos_token_id,
        "prompts": records}, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
