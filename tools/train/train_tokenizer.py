#!/usr/bin/env python3
"""Stage 2: a CLIP-style byte-level BPE tokenizer trained on the captions (HF `tokenizers`).

The same pipeline as openai/clip-vit-large-patch14's tokenizer.json, which sinter's
tokenizers/tokenizer.c follows: NFC, whitespace runs to one space, lower case; CLIP's split
pattern, then ByteLevel without its regex; BPE with "</w>" word ends; <|startoftext|> $A
<|endoftext|>; truncation to 32 tokens and padding to 32 with <|endoftext|> (sinter and
transformers both read the length from the file). The vocabulary is sized so that every word
of the captions is one token (the captions have ~70 distinct words); words outside it are
spelled with byte-level pieces, never dropped.

Writes OUT/text/tokenizer.json.
"""
import argparse
import json
import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import common
import dataset

CLIP_PATTERN = (r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
                r"""[^\s\p{L}\p{N}]+""")
MAX_LEN = 32


def build(captions, vocab_size=1000):
    tok = Tokenizer(models.BPE(unk_token=None, end_of_word_suffix="</w>", continuing_subword_prefix="",
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=alphabet, end_of_word_suffix="</w>")
    tok.train_from_iterator(captions, trainer)
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)])
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(length=MAX_LEN, pad_id=eos, pad_token="<|endoftext|>")
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-data", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    _, caps, _ = common.render_dataset(os.path.join(a.out, "data"), a.n_data, a.seed)
    texts = [c for cs in caps for c in cs] + [p["caption"] for p in dataset.held_out_prompts()]
    # The held-out prompts' words all occur in training captions too; they are added only so
    # the vocabulary cannot miss a rare phrasing (no image is attached to them).
    tok = build(texts)
    os.makedirs(os.path.join(a.out, "text"), exist_ok=True)
    path = os.path.join(a.out, "text", "tokenizer.json")
    tok.save(path)
    words = sorted({w for t in texts for w in t.lower().replace(",", " , ").split()})
    split = [w for w in words if sum(tok.encode(w).attention_mask) > 3]
    enc = tok.encode("a red circle above a blue square")
    common.log("tokenizer: %d ids, %d caption words, %d words in more than one piece %s" % (
        tok.get_vocab_size(), len(words), len(split), split[:10]))
    common.log("tokenizer: 'a red circle above a blue square' -> %s" % enc.tokens[:10])
    with open(os.path.join(a.out, "text", "tokenizer_check.json"), "w") as f:
        json.dump({"prompt": "a red circle above a blue square", "ids": enc.ids,
                   "tokens": enc.tokens}, f)


if __name__ == "__main__":
    main()
