"""A small Llama-style decoder: RMSNorm, rotary positions, grouped-query attention, SwiGLU, tied embeddings.

The same layers serve training (causal, no cache) and the three exported graphs: the transformers.js graph
(explicit mask, past keys/values in, present out), the stepper graph (a fixed set of cache slots in, only the
new keys/values out) and the coder graph (the cache in and out, for a device that keeps it), so every graph
computes what was trained.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 16384
    n_layer: int = 6
    n_head: int = 6
    n_kv_head: int = 2
    n_embd: int = 384
    ffn: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotary(position_ids, head_dim, theta):
    """cos and sin of shape [batch, 1, seq, head_dim] for the given absolute positions."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=position_ids.device) / head_dim))
    freqs = position_ids.float()[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]
    return emb.cos(), emb.sin()


def apply_rotary(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.n_embd, c.n_head * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.n_head * c.head_dim, c.n_embd, bias=False)

    def project(self, x, cos, sin):
        """Queries [B, n_head, T, head_dim], keys and values [B, n_kv_head, T, head_dim], rotated."""
        c = self.c
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, c.n_head, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, c.n_kv_head, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, c.n_kv_head, c.head_dim).transpose(1, 2)
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin), v

    def forward(self, x, cos, sin, mask=None, past=None, keys_transposed=False):
        """keys_transposed (the coder graph): past and present keys are kept as [B, n_kv_head, head_dim, S], the
        layout the scores' product reads, so a step copies the cache once (the append) and transposes nothing."""
        c = self.c
        B, T, _ = x.shape
        q, k, v = self.project(x, cos, sin)
        if keys_transposed:
            k = k.transpose(-1, -2)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=3 if keys_transposed else 2), torch.cat([past[1], v], dim=2)
        present = (k, v)
        groups = c.n_head // c.n_kv_head
        if mask is None:  # training: plain causal attention over the sequence
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=groups > 1)
        else:  # export: explicit mask so cached steps and padded rows behave exactly as in a full pass.
            # Query heads are grouped under the key/value head they share, so keys and values are never
            # copied per query head: each step reads the cache once.
            qg = q.reshape(B, c.n_kv_head, groups * T, c.head_dim)
            scores = (qg @ (k if keys_transposed else k.transpose(-1, -2))) * (1.0 / math.sqrt(c.head_dim))
            scores = scores.view(B, c.n_kv_head, groups, T, -1).masked_fill(~mask[:, :, None], torch.finfo(scores.dtype).min)
            y = (torch.softmax(scores, dim=-1).view(B, c.n_kv_head, groups * T, -1) @ v).view(B, c.n_head, T, c.head_dim)
        y = y.transpose(1, 2).reshape(B, T, c.n_head * c.head_dim)
        return self.o_proj(y), present

    def forward_slots(self, x, cos, sin, slot_mask, slots):
        """Attends to cache slots (key, value [B, n_kv_head, S, head_dim]; slot_mask [B, S] marks the filled ones)
        and causally to the new positions. Scores over slots and over new keys are computed apart and only
        then joined, so the cache is read in place, and only the new keys and values are returned."""
        c = self.c
        B, T, _ = x.shape
        q, k, v = self.project(x, cos, sin)
        groups = c.n_head // c.n_kv_head
        qg = q.reshape(B, c.n_kv_head, groups * T, c.head_dim) * (1.0 / math.sqrt(c.head_dim))
        lowest = torch.finfo(q.dtype).min
        slot_scores = (qg @ slots[0].transpose(-1, -2)).masked_fill(~slot_mask[:, None, None, :], lowest)
        pos = torch.arange(T, device=x.device)
        causal = pos[None, :] <= pos[:, None]
        new_scores = (qg @ k.transpose(-1, -2)).view(B, c.n_kv_head, groups, T, T).masked_fill(~causal, lowest)
        probs = torch.softmax(torch.cat([slot_scores, new_scores.view(B, c.n_kv_head, groups * T, T)], dim=-1), dim=-1)
        S = slots[0].shape[2]
        y = probs[..., :S] @ slots[1] + probs[..., S:] @ v
        y = y.view(B, c.n_head, T, c.head_dim).transpose(1, 2).reshape(B, T, c.n_head * c.head_dim)
        return self.o_proj(y), (k, v)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.n_embd, c.ffn, bias=False)
        self.up_proj = nn.Linear(c.n_embd, c.ffn, bias=False)
        self.down_proj = nn.Linear(c.ffn, c.n_embd, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.n_embd, c.norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.n_embd, c.norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask=None, past=None, keys_transposed=False):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past, keys_transposed)
        return self.feed_forward(x + a), present

    def forward_slots(self, x, cos, sin, slot_mask, slots):
        a, new = self.self_attn.forward_slots(self.input_layernorm(x), cos, sin, slot_mask, slots)
        return self.feed_forward(x + a), new

    def feed_forward(self, x):
        return x + self.mlp(self.post_attention_layernorm(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.n_embd)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.norm = RMSNorm(c.n_embd, c.norm_eps)
        self.apply(self._init)
        for name, p in self.named_parameters():  # scaled init of residual projections, as in GPT-2
            if name.endswith('o_proj.weight') or name.endswith('down_proj.weight'):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None, teacher_logits=None, distill=0.0):
        """Training forward: logits; with targets, the mean cross-entropy in nats; with a teacher's logits as well,
        (1 - distill) times that plus distill times the mean KL divergence of this model from the teacher (in nats)."""
        pos = torch.arange(idx.shape[1], device=idx.device)[None]
        cos, sin = rotary(pos, self.c.head_dim, self.c.rope_theta)
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x, _ = layer(x, cos, sin)
        logits = F.linear(self.norm(x), self.embed_tokens.weight)
        if targets is None:
            return logits
        flat = logits.float().view(-1, logits.shape[-1])
        loss = F.cross_entropy(flat, targets.reshape(-1))
        if teacher_logits is None:
            return loss
        teacher = F.log_softmax(teacher_logits.float().view_as(flat), dim=-1)
        kl = F.kl_div(F.log_softmax(flat, dim=-1), teacher, log_target=True, reduction='batchmean')
        return (1 - distill) * loss + distill * kl

    @torch.no_grad()
    def mean_loss(self, tokens, block_size, batch_size, batches):
        """Mean cross-entropy in nats over `batches` batches of windows of `tokens` (uint16), drawn from a fixed seed,
        so that every call and every checkpoint sees the same windows."""
        device = self.embed_tokens.weight.device
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(batches):
            starts = rng.integers(0, len(tokens) - block_size - 1, batch_size)
            rows = torch.from_numpy(np.stack([tokens[s:s + block_size + 1] for s in starts]).astype(np.int64)).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                losses.append(self(rows[:, :-1], rows[:, 1:]).item())
        return float(np.mean(losses))

    def forward_cached(self, input_ids, attention_mask, position_ids, past):
        """Inference forward with a key/value cache: past is a list of (key, value) per layer,
        each [batch, n_kv_head, past_len, head_dim]; attention_mask covers past + new positions."""
        T = input_ids.shape[1]
        P = past[0][0].shape[2]
        cos, sin = rotary(position_ids, self.c.head_dim, self.c.rope_theta)
        key_pos = torch.arange(P + T, device=input_ids.device)
        query_pos = torch.arange(T, device=input_ids.device) + P
        causal = key_pos[None, :] <= query_pos[:, None]
        mask = causal[None, None] & (attention_mask[:, None, None, :] > 0)
        x = self.embed_tokens(input_ids)
        presents = []
        for layer, layer_past in zip(self.layers, past):
            x, present = layer(x, cos, sin, mask, layer_past)
            presents.append(present)
        return F.linear(self.norm(x), self.embed_tokens.weight), presents

    def forward_slots(self, input_ids, position_ids, slot_mask, slots):
        """The stepper's forward: slots is a list of (key, value) per layer, each [batch, n_kv_head, S, head_dim]
        with slot_mask [batch, S] marking the filled slots. Returns the logits of the last position only
        [batch, vocab] (the next token's), and each layer's new keys and values [batch, n_kv_head, T, head_dim]."""
        cos, sin = rotary(position_ids, self.c.head_dim, self.c.rope_theta)
        x = self.embed_tokens(input_ids)
        news = []
        for layer, layer_slots in zip(self.layers, slots):
            x, new = layer.forward_slots(x, cos, sin, slot_mask, layer_slots)
            news.append(new)
        return F.linear(self.norm(x[:, -1]), self.embed_tokens.weight), news

    def forward_window(self, input_ids, position_ids, cache):
        """The coder graph's forward, for a device that keeps the cache: cache is a list of (keys [batch, n_kv_head,
        head_dim, S], transposed, values [batch, n_kv_head, S, head_dim]) per layer, positions 0..S-1 of every row;
        the T new tokens stand at positions S..S+T-1 (a restart starts from an empty cache). Returns the last
        position's logits [batch, vocab] and the caches with the new keys and values appended."""
        T = input_ids.shape[1]
        S = cache[0][1].shape[2]
        key_pos = torch.arange(S + T, device=input_ids.device)
        query_pos = torch.arange(T, device=input_ids.device) + S
        mask = (key_pos[None, :] <= query_pos[:, None])[None, None]
        cos, sin = rotary(position_ids, self.c.head_dim, self.c.rope_theta)
        x = self.embed_tokens(input_ids)
        updated = []
        for layer, layer_cache in zip(self.layers, cache):
            x, layer_cache = layer(x, cos, sin, mask, layer_cache, keys_transposed=True)
            updated.append(layer_cache)
        return F.linear(self.norm(x[:, -1]), self.embed_tokens.weight), updated
