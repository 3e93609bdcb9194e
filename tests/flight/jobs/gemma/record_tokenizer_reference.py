"""Record reference token ids for Gemma 3 270M from two independent tokenizers.

transformers' GGUF converter (a BPE built from merges it derives from the vocabulary) and the sentencepiece
library itself (its BPE over a model proto rebuilt from the GGUF). They agree except on runs of 32 or more
spaces, which SentencePiece matches greedily as user-defined pieces (31 + rest) and transformers builds by
BPE merges (16 + 16), and on "<unk>" text, which SentencePiece never matches (its one UNKNOWN piece).

Not a test: pytest collects only ``test_*.py``, and this needs the reference venv (transformers, tokenizers):

    /work/scratch/refvenv/bin/python tests/flight/jobs/gemma/record_tokenizer_reference.py

It writes ``fixtures/tokenizer_reference.json``, which ``test_tokenizer.py`` checks our tokenizer against.
The strings are generated here from fixed seeds, so a re-run writes the same file unless the reference changes.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "tokenizer_reference.json"
GGUF = Path("/root/.cache/zenith/gemma3/gemma3-270m-q4_k_m.gguf")

PROSE = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Zenith is flight software for a GPU payload in low Earth orbit.",
    "Telemetry frames are downlinked during each ground station pass.",
    "It was the best of times, it was the worst of times.",
    "Call me Ishmael. Some years ago—never mind how long precisely—",
    "I can't believe it's not butter; they'd've known, wouldn't they?",
    "e-mail: ops@zenith.example.org, URL: https://example.com/a/b?c=d&e=f#g",
    "def main():\n    return 0\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    '{"ids": [2, 9259, 236764], "ok": true}',
    "SELECT * FROM frames WHERE vcid = 7 ORDER BY seq DESC;",
    "The year 1969, the number 3.14159, and 1,000,000 dollars.",
    "CamelCaseIdentifiersAndsnake_case_names_and-kebab-case",
    "ALL CAPS SHOUTING IS HARD TO READ",
    "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal.",
]

SHAKESPEARE = [
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Or to take arms against a sea of troubles",
    "Shall I compare thee to a summer's day?",
    "Thou art more lovely and more temperate:",
    "Now is the winter of our discontent\nMade glorious summer by this sun of York;",
    "All the world's a stage,\nAnd all the men and women merely players;",
    "O Romeo, Romeo! wherefore art thou Romeo?",
    "FIRST CITIZEN:\nBefore we proceed any further, hear me speak.\n\nALL:\nSpeak, speak.",
    "Friends, Romans, countrymen, lend me your ears;",
    "Is this a dagger which I see before me,\nThe handle toward my hand?",
    "What's in a name? that which we call a rose\nBy any other name would smell as sweet;",
    "Et tu, Brute! Then fall, Caesar.",
    "  KING LEAR:\n\tBlow, winds, and crack your cheeks! rage! blow!",
]

WHITESPACE = (
    ["", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\n \n", "a\n\nb", "\t\tindented", "x\ty\tz"]
    + [" " * n + "word" for n in (1, 2, 3, 5, 8, 16, 30, 31, 32, 33, 40, 64)]
    + ["word" + " " * n for n in (1, 2, 3, 7, 31, 32, 45)]
    + ["a" + " " * n + "b" for n in (1, 2, 4, 9, 17, 31, 32, 62, 63)]
    + ["\n" * n for n in (1, 3, 30, 31, 32, 40)]
    + ["line one\n" + "\n" * n + "line two" for n in (0, 1, 2, 5)]
    + ["  leading", "trailing  ", "  both  ", "multiple   inner    spaces", " \t \n mixed \r\n\t whitespace "]
    + ["\u00a0non-breaking\u00a0space", "ideographic\u3000space", "thin\u2009space", "zero\u200bwidth"]
    + ["\u2581already\u2581escaped", "\u2581", "\u2581\u2581 \u2581"]
)

PUNCT_DIGITS = [
    "0", "7", "42", "1234567890", "3.14159265358979", "-273.15", "1e-9", "0x7FFF_FFFF", "2026-11-28T18:45:07Z",
    "!!!", "???", "...", "…", "---", "___", "***", "!?!?!?", "(([[{{<>}}]]))", "#!/usr/bin/env python3",
    "~`@#$%^&*()_+-={}[]|\\:;\"'<>,.?/", "a,b;c:d", "1+1=2", "100%", "$5.00", "€20", "£3", "¥1000",
]

LATIN = [
    "café", "naïve", "façade", "Straße", "Ærøskøbing", "Fjällräven", "crème brûlée", "El niño pidió jamón.",
    "Ça va? Très bien, merci.", "Łódź i Gdańsk", "Dvořák", "İstanbul ığdır", "Ελληνικά γράμματα", "Привет, мир!",
    "e\u0301 (combining acute)", "A\u030a vs \u00c5", "ﬁ ligature", "ＦＵＬＬＷＩＤＴＨ",
]

SCRIPTS = [
    "你好，世界！", "日本語のテキストです。", "東京タワーは333メートルです", "한국어 문장입니다.", "中文和English混合",
    "مرحبا بالعالم", "السلام عليكم ورحمة الله", "नमस्ते दुनिया", "हिन्दी में एक वाक्य।", "שלום עולם",
    "ภาษาไทย", "ქართული", "አማርኛ", "தமிழ்", "Tiếng Việt có dấu",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "I ❤️ Zenith 🚀🛰️", "emoji🙂between🙃words", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "𓀀𓀁 hieroglyphs",
    "\x00", "\x01\x02\x03", "\x7f", "bell\x07", "\ufeffBOM", "\ufffd", "\U0010fffd", "\ue000 private use",
]

SPECIAL = [
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<bos>hello<eos>", "text <bos> in the middle",
    "<start_of_turn>", "<end_of_turn>", "<start_of_turn><end_of_turn>", "start_of_turn", "<start_of_turn",
    "<unused0>", "<unused17>", "<unused6241>", "<unused99999>", "[multimodal]", "[multi modal]",
    "<table><tr><td>1</td></tr></table>", "<h1>Title</h1>", "<b>bold</b> and <i>italic</i>", "<div class=\"x\">",
    "<0x41>", "<0x0A>", "<0xFF>", "<0x>", "<0x41><0x42>", "&lt;b&gt;", "<<>>", "<", ">", "</", "<br/>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>",
]


def random_strings(count: int, seed: int) -> list[str]:
    """Random text mixing ASCII, Latin, CJK, emoji, combining marks, controls and unassigned code points."""
    rng = random.Random(seed)
    ranges = [
        (0x20, 0x7E), (0x20, 0x7E), (0x20, 0x7E), (0x00, 0x1F), (0xA0, 0x24F), (0x300, 0x36F),
        (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x10000, 0x10FFFF), (0xE000, 0xF8FF), (0x2000, 0x206F),
    ]
    out = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(1, 40)):
            low, high = rng.choice(ranges)
            code = rng.randint(low, high)
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded; neither tokenizer sees them
                code = 0x20
            chars.append(chr(code))
            if rng.random() < 0.15:
                chars.append(" " * rng.randint(1, 3))
        out.append("".join(chars))
    return out


def random_words(count: int, seed: int) -> list[str]:
    """Pseudo-English built from a small vocabulary, with random spacing and punctuation."""
    rng = random.Random(seed)
    words = ["the", "orbit", "payload", "ground", "station", "frame", "telemetry", "command", "satellite", "battery", "eclipse", "thermal", "of", "and", "to", "in", "is", "was", "that", "it", "for", "on", "with", "as", "by", "at", "from", "sun", "moon", "star", "light", "dark", "running", "jumped", "quickly", "unbelievable", "antidisestablishmentarianism"]
    seps = [" ", " ", " ", "  ", ", ", ". ", "\n", "\t", "-", "'s ", "! "]
    return ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 25)))
            for _ in range(count)]


def random_markup(count: int, seed: int) -> list[str]:
    """Fragments that meet at token edges: added tokens, their prefixes, space and newline runs, "▁"."""
    rng = random.Random(seed)
    parts = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<unused3>", "<", ">", "start_of_turn",
             "<table>", "</td>", "[multimodal]", "\n", "\n\n", "\n" * 35, " ", "  ", " " * 33, "\t", "\u2581",
             "user", "model", "Hello", " world", "é", "日本", "🙂", "\r", "\x00", "0x41", "<0x41>", "ing", "_"]
    return ["".join(rng.choice(parts) for _ in range(rng.randint(1, 30))) for _ in range(count)]


def long_text() -> str:
    parts = SHAKESPEARE + PROSE + LATIN + SCRIPTS[:15]
    rng = random.Random(7)
    return "\n".join(rng.choice(parts) for _ in range(120))


def all_strings() -> list[str]:
    strings = (PROSE + SHAKESPEARE + WHITESPACE + PUNCT_DIGITS + LATIN + SCRIPTS + SPECIAL
               + random_words(60, 11) + random_strings(120, 12) + random_markup(80, 13) + [long_text()])
    seen: set[str] = set()
    return [s for s in strings if not (s in seen or seen.add(s))]


def sentencepiece_models() -> tuple[object, object]:
    """The real SentencePiece library, with a BPE model proto rebuilt from the GGUF's vocabulary.

    The GGUF spells user-defined runs of spaces with real spaces (llama.cpp's converter replaces "▁" in
    them); the original model had "▁" runs, so they are respelled back. The first model keeps control
    tokens as control (SentencePiece then never matches their text); the second makes them user-defined,
    which is how a chat template's "<start_of_turn>" is matched in text.
    """
    import gguf
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    reader = gguf.GGUFReader(GGUF)
    fields = reader.fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    scores = fields["tokenizer.ggml.scores"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    unk = fields["tokenizer.ggml.unknown_token_id"].contents()
    models = []
    for control_as_user in (False, True):
        proto = pb.ModelProto()
        proto.trainer_spec.model_type = pb.TrainerSpec.BPE
        proto.trainer_spec.vocab_size = len(tokens)
        proto.trainer_spec.byte_fallback = True
        proto.trainer_spec.unk_id = unk
        proto.trainer_spec.bos_id = fields["tokenizer.ggml.bos_token_id"].contents()
        proto.trainer_spec.eos_id = fields["tokenizer.ggml.eos_token_id"].contents()
        proto.trainer_spec.pad_id = fields["tokenizer.ggml.padding_token_id"].contents()
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = False
        proto.normalizer_spec.remove_extra_whitespaces = False
        proto.normalizer_spec.escape_whitespaces = True
        for index, (token, score, token_type) in enumerate(zip(tokens, scores, types, strict=True)):
            piece = proto.pieces.add()
            piece.piece = "\u2581" * len(token) if token_type == 4 and not token.strip(" ") else token
            piece.score = score
            if index == unk:
                token_type = 2  # the GGUF marks <unk> control; SentencePiece needs exactly one UNKNOWN
            elif token_type == 3 and control_as_user:
                token_type = 4
            piece.type = token_type
        models.append(spm.SentencePieceProcessor(model_proto=proto.SerializeToString()))
    return models[0], models[1]


def main() -> int:
    from transformers import AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    print(f"loaded the reference tokenizer in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    spm_plain, spm_special = sentencepiece_models()
    bos = tokenizer.bos_token_id
    cases = []
    for text in all_strings():
        ids = tokenizer.encode(text)
        cases.append({"text": text, "ids": ids, "pieces": tokenizer.convert_ids_to_tokens(ids),
                      "spm_ids": [bos] + spm_special.encode(text), "spm_plain_ids": [bos] + spm_plain.encode(text)})
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "reference": "ids: transformers GGUF converter (AutoTokenizer.from_pretrained(dir, gguf_file=...)); "
                     "spm_ids / spm_plain_ids: the sentencepiece library with a BPE proto rebuilt from the GGUF, "
                     "control tokens user-defined (matched in text) / left control (never matched)",
        "transformers": __import__("transformers").__version__,
        "tokenizers": __import__("tokenizers").__version__,
        "sentencepiece": __import__("sentencepiece").__version__,
        "gguf": GGUF.name,
        "cases": cases,
    }
    FIXTURE.write_text(json.dumps(record, ensure_ascii=True, indent=0) + "\n")
    print(f"wrote {len(cases)} cases to {FIXTURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
