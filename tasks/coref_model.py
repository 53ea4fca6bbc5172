"""The span-ranking coreference model of the SpanBERT paper: Lee et al. (2018) "higher-order
coreference with coarse-to-fine inference" on the "independent" BERT encoding of Joshi et al. (2019).

Per document (Lee et al. 2018 sections 2-4; Joshi et al. 2019 section 2):
- the document's segments are encoded independently and their subtokens concatenated;
- every span within a sentence of at most `max_span_width` subtokens is a candidate; we also
  require it to start at a word start and end at a word end (Joshi et al. score subtoken spans
  and map them to words afterwards; ours can never produce two candidates for one word span);
- span representation g = [x_start, x_end, attention-weighted sum of x over the span, width
  embedding]; mention score s_m = FFNN(g) + FFNN(width prior embedding);
- the top 0.4 x (number of subtokens) spans by s_m, greedily, without crossing spans;
- coarse antecedent score s_m(i) + s_m(j) + g_i W g_j, keep the best `max_top_antecedents` (50);
- fine score FFNN([g_i, g_j, g_i * g_j, phi(i, j)]), phi = antecedent distance bucket, same
  speaker, genre and segment distance embeddings; a dummy antecedent scores 0;
- `coref_depth` - 1 rounds of higher-order refinement g_i <- f * g_i + (1 - f) * sum_j P(j|i) g_j;
- loss: marginal log-likelihood of the gold antecedents (dummy when there is none). With
  `mention_loss_coef` > 0 a binary cross-entropy on the mention scores of the top spans is added
  (not in Lee et al.; used here so that singletons can be predicted, see tasks/coref.py).

Memory, base size (BERT-base encoder + task layers = 154 M parameters with ffnn_size 3000).
Measured as peak CPU RSS in float32 on a 2-core AMD EPYC VM (2026-11-26), no GPU available, so a
proxy for GPU memory (bf16 autocast on GPU needs less):
- one training step on a 3 x 384-segment window (1,004 subtokens, the published spanbert_base
  set-up): +6.2 GB over the loaded model (activations ~4.4 GB, the rest gradients and AdamW
  state), ~7 GB in all;
- evaluating a 4,178-subtoken document (12 segments of 384, the length of a long OntoNotes
  document): +2.2 GB, ~3 GB in all. Evaluation memory grows linearly with document length (fine
  pair scores are computed in chunks of 256 spans): about +5 GB for 10,000 subtokens (extrapolated).
So base size fits a 24 GB GPU for OntoNotes-length documents with room to spare; the largest
term in training is the pair scorer, top spans x 50 antecedents x (3 x 2,324 + 80) inputs and
3,000 hidden units, for each of the coref_depth rounds.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PAIR_CHUNK = 256  # top spans per chunk of fine pair scoring (bounds evaluation memory)
SPAN_CHUNK = 8192  # candidate spans per chunk of mention scoring
DISTANCE_BUCKETS = 10  # antecedent distance buckets of Lee et al. (2017): 0,1,2,3,4,5-7,8-15,16-31,32-63,64+


def distance_bucket(distance: torch.Tensor) -> torch.Tensor:
    """Lee et al. (2017) buckets: identity up to 4, then log2 buckets, capped at 9."""
    log_bucket = torch.floor(torch.log2(distance.clamp(min=1).float())).long() + 3
    return torch.where(distance <= 4, distance, log_bucket).clamp(0, DISTANCE_BUCKETS - 1)


def ffnn(in_dim: int, hidden: int, depth: int, out_dim: int, dropout: float) -> nn.Sequential:
    """`depth` hidden ReLU layers of width `hidden` with dropout, then a linear output."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(hidden if depth else in_dim, out_dim))
    return nn.Sequential(*layers)


def candidate_spans(
    sentence_map: torch.Tensor, word_start: torch.Tensor, word_end: torch.Tensor, max_width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(starts, ends) of all candidate spans: inside one sentence, at most max_width subtokens,
    starting at a word start and ending at a word end; sorted by (start, end)."""
    n = sentence_map.shape[0]
    starts = torch.arange(n, device=sentence_map.device)[:, None].expand(n, max_width)
    ends = starts + torch.arange(max_width, device=sentence_map.device)[None, :]
    inside = ends < n
    ends_c = ends.clamp(max=n - 1)
    ok = inside & (sentence_map[starts] == sentence_map[ends_c]) & word_start[starts] & word_end[ends_c]
    return starts[ok], ends[ok]


def extract_top_spans(scores: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of up to k candidates by descending score with no two spans crossing (Lee et al.
    2017: nested spans are allowed, partial overlaps are not); returned sorted by (start, end)."""
    order = torch.argsort(scores, descending=True).tolist()
    s_list, e_list = starts.tolist(), ends.tolist()
    chosen: list[int] = []
    max_end_from: dict[int, int] = {}  # start -> largest end of a chosen span starting there
    min_start_to: dict[int, int] = {}  # end -> smallest start of a chosen span ending there
    for idx in order:
        if len(chosen) >= k:
            break
        s, e = s_list[idx], e_list[idx]
        if any(max_end_from.get(t, -1) > e for t in range(s + 1, e + 1)):
            continue  # a chosen span starts inside and ends after this one
        if any(min_start_to.get(t, e + 1) < s for t in range(s, e)):
            continue  # a chosen span ends inside and starts before this one
        chosen.append(idx)
        max_end_from[s] = max(max_end_from.get(s, -1), e)
        min_start_to[e] = min(min_start_to.get(e, e + 1), s)
    chosen.sort(key=lambda i: (s_list[i], e_list[i]))
    return torch.tensor(chosen, dtype=torch.long, device=scores.device)


class CorefModel(nn.Module):
    """Encoder + span-ranking head; forward(**collated batch) -> dict (see `forward`)."""

    def __init__(
        self,
        encoder: nn.Module,
        *,
        max_span_width: int = 30,
        feature_size: int = 20,
        ffnn_size: int = 3000,
        ffnn_depth: int = 1,
        dropout: float = 0.3,
        top_span_ratio: float = 0.4,
        max_top_antecedents: int = 50,
        coref_depth: int = 2,
        num_genres: int = 7,
        use_genre: bool = True,
        use_speakers: bool = True,
        max_segments: int = 128,
        mention_loss_coef: float = 0.0,
        task_learning_rate: float = 2e-4,
    ):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.max_span_width, self.top_span_ratio = max_span_width, top_span_ratio
        self.max_top_antecedents, self.coref_depth = max_top_antecedents, coref_depth
        self.use_genre, self.use_speakers = use_genre, use_speakers
        self.mention_loss_coef, self.task_learning_rate = mention_loss_coef, task_learning_rate
        self.span_dim = 3 * hidden + feature_size
        self.dropout = nn.Dropout(dropout)
        self.width_emb = nn.Embedding(max_span_width, feature_size)
        self.width_prior_emb = nn.Embedding(max_span_width, feature_size)
        self.head_attention = nn.Linear(hidden, 1)
        self.mention_ffnn = ffnn(self.span_dim, ffnn_size, ffnn_depth, 1, dropout)
        self.width_prior_ffnn = ffnn(feature_size, ffnn_size, ffnn_depth, 1, dropout)
        self.coarse = nn.Linear(self.span_dim, self.span_dim)
        self.distance_emb = nn.Embedding(DISTANCE_BUCKETS, feature_size)
        self.same_speaker_emb = nn.Embedding(2, feature_size)
        self.genre_emb = nn.Embedding(max(1, num_genres), feature_size)
        self.segment_distance_emb = nn.Embedding(max_segments, feature_size)
        pair_dim = 3 * self.span_dim + 4 * feature_size
        self.fine_ffnn = ffnn(pair_dim, ffnn_size, ffnn_depth, 1, dropout)
        # only built when used, so DistributedDataParallel sees no unused parameters
        self.gate = nn.Linear(2 * self.span_dim, self.span_dim) if coref_depth > 1 else None

    def task_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters outside the encoder (trained with task_learning_rate)."""
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("encoder.")]

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass over a padded batch of documents (see tasks/coref.py `collate`).

        Returns top_starts / top_ends (subtoken offsets), top_scores (mention scores) and
        antecedents (index into the top spans, -1 for none), all [batch, max top spans] padded
        with -1, plus "loss" (summed over documents) when gold mentions are in the batch.
        """
        outs = [self._document(batch, b) for b in range(batch["input_ids"].shape[0])]
        k_max = max(1, max(o["top_starts"].shape[0] for o in outs))
        result = {
            name: torch.stack([_pad(o[name], k_max, -1) for o in outs])
            for name in ("top_starts", "top_ends", "top_scores", "antecedents")
        }
        if "gold_starts" in batch:
            result["loss"] = torch.stack([o["loss"] for o in outs]).sum()
        return result

    def _document(self, batch: dict[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
        n_seg, n_tok = int(batch["n_segments"][b]), int(batch["n_subtokens"][b])
        encoded = self.encoder(
            input_ids=batch["input_ids"][b, :n_seg], attention_mask=batch["attention_mask"][b, :n_seg]
        ).last_hidden_state  # [segments, segment length, hidden]
        x = encoded.reshape(-1, encoded.shape[-1])[batch["flat_index"][b, :n_tok]]  # [T, hidden]
        x = self.dropout(x)
        starts, ends = candidate_spans(
            batch["sentence_map"][b, :n_tok],
            batch["word_start"][b, :n_tok],
            batch["word_end"][b, :n_tok],
            self.max_span_width,
        )
        span_emb = self._span_embeddings(x, starts, ends)  # [C, span_dim]
        width = ends - starts
        mention_scores = torch.cat(
            [self.mention_ffnn(span_emb[r]).squeeze(-1) for r in _chunks(len(span_emb), SPAN_CHUNK)]
        )
        mention_scores = mention_scores + self.width_prior_ffnn(self.width_prior_emb(width)).squeeze(-1)
        k = max(1, min(math.floor(self.top_span_ratio * n_tok), starts.shape[0]))
        top = extract_top_spans(mention_scores.detach(), starts, ends, k)
        out = self._antecedents(batch, b, span_emb[top], mention_scores[top], starts[top], ends[top])
        out.update(top_starts=starts[top], top_ends=ends[top], top_scores=mention_scores[top])
        if "gold_starts" in batch:
            out["loss"] = self._loss(batch, b, out)
        return out

    def _span_embeddings(self, x: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """[x_start, x_end, head attention, width]; the attention-weighted sum is a sparse
        [C, T] x [T, hidden] product, so no [C, width, hidden] tensor is ever built."""
        n_cand, n_tok = starts.shape[0], x.shape[0]
        offsets = torch.arange(self.max_span_width, device=x.device)
        tokens = starts[:, None] + offsets[None, :]  # [C, W]
        valid = tokens <= ends[:, None]
        logits = self.head_attention(x).squeeze(-1)[tokens.clamp(max=n_tok - 1)]
        weights = torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
        rows = torch.arange(n_cand, device=x.device)[:, None].expand_as(tokens)
        index = torch.stack([rows[valid], tokens[valid]])
        with torch.autocast(device_type=x.device.type, enabled=False):
            attention = torch.sparse_coo_tensor(
                index, weights[valid].float(), (n_cand, n_tok), check_invariants=False
            )
            head = torch.sparse.mm(attention, x.float()).to(x.dtype)
        return torch.cat([x[starts], x[ends], head, self.width_emb(ends - starts)], dim=-1)

    def _antecedents(self, batch, b, g, scores, starts, ends) -> dict[str, torch.Tensor]:
        """Coarse-to-fine antecedent scores of the top spans (Lee et al. 2018, section 3)."""
        k = g.shape[0]
        c = min(self.max_top_antecedents, max(1, k - 1))
        earlier = torch.arange(k, device=g.device)[None, :] < torch.arange(k, device=g.device)[:, None]
        coarse = scores[:, None] + scores[None, :] + self.dropout(self.coarse(g)) @ g.T
        coarse = coarse.masked_fill(~earlier, float("-inf"))
        coarse_top, ante = torch.topk(coarse, k=min(c, k), dim=-1)  # [k, c]
        ante_mask = torch.isfinite(coarse_top)
        features = self._pair_features(batch, b, starts, ante, k)
        for depth in range(self.coref_depth):
            fine = torch.cat([self._fine_scores(g, ante, features, rows) for rows in _chunks(k, PAIR_CHUNK)])
            pair_scores = (coarse_top + fine).masked_fill(~ante_mask, float("-inf"))
            if depth + 1 < self.coref_depth:
                g = self._refine(g, ante, pair_scores)
        with_dummy = torch.cat([torch.zeros_like(pair_scores[:, :1]), pair_scores], dim=-1)
        best = with_dummy.argmax(dim=-1)
        chosen = torch.gather(ante, 1, (best - 1).clamp(min=0)[:, None]).squeeze(1)
        antecedents = torch.where(best > 0, chosen, torch.full_like(chosen, -1))
        return {"pair_scores": with_dummy, "ante": ante, "ante_mask": ante_mask, "antecedents": antecedents}

    def _fine_scores(self, g, ante, features, rows: slice) -> torch.Tensor:
        """FFNN([g_i, g_j, g_i * g_j, phi(i, j)]) for the spans in `rows` and their antecedents;
        computed in row chunks so evaluation never holds all [k, c, 3 x span_dim] pairs at once."""
        gi, gj = g[rows, None].expand(-1, ante.shape[1], -1), g[ante[rows]]
        return self.fine_ffnn(torch.cat([gi, gj, gi * gj, features[rows]], dim=-1)).squeeze(-1)

    def _pair_features(self, batch, b, starts, ante, k) -> torch.Tensor:
        """phi(i, j): distance bucket, same speaker, genre and segment distance embeddings."""
        feats = [self.distance_emb(distance_bucket(torch.arange(k, device=ante.device)[:, None] - ante))]
        speaker = batch["speaker_ids"][b][starts]
        same = (speaker[:, None] == speaker[ante]).long() if self.use_speakers else torch.zeros_like(ante)
        feats.append(self.same_speaker_emb(same))
        genre = batch["genre"][b] if self.use_genre else torch.zeros_like(batch["genre"][b])
        feats.append(self.genre_emb(genre).expand(*ante.shape, -1))
        segment = batch["segment_id"][b][starts]
        seg_distance = (segment[:, None] - segment[ante]).clamp(
            0, self.segment_distance_emb.num_embeddings - 1
        )
        feats.append(self.segment_distance_emb(seg_distance))
        return self.dropout(torch.cat(feats, dim=-1))

    def _refine(self, g: torch.Tensor, ante: torch.Tensor, pair_scores: torch.Tensor) -> torch.Tensor:
        """Higher-order inference: gate each span with its expected antecedent (dummy = itself)."""
        probs = torch.softmax(torch.cat([torch.zeros_like(pair_scores[:, :1]), pair_scores], -1), dim=-1)
        candidates = torch.cat([g[:, None], g[ante]], dim=1)  # [k, 1 + c, span_dim]
        attended = (probs[..., None] * candidates).sum(dim=1)
        f = torch.sigmoid(self.gate(torch.cat([g, attended], dim=-1)))
        return f * attended + (1 - f) * g

    def _loss(self, batch, b, out) -> torch.Tensor:
        """Marginal log-likelihood of gold antecedents, summed over the top spans, plus (with
        mention_loss_coef) a binary cross-entropy of the top spans' mention scores."""
        n_gold = int(batch["n_gold"][b])
        gold_s, gold_e = batch["gold_starts"][b, :n_gold], batch["gold_ends"][b, :n_gold]
        gold_c = batch["gold_cluster"][b, :n_gold]
        top_cluster = _span_labels(out["top_starts"], out["top_ends"], gold_s, gold_e, gold_c)
        ante_cluster = top_cluster[out["ante"]]
        gold = (ante_cluster == top_cluster[:, None]) & (top_cluster[:, None] > 0) & out["ante_mask"]
        gold = torch.cat([~gold.any(dim=-1, keepdim=True), gold], dim=-1)
        scores = out["pair_scores"]
        loss = (
            torch.logsumexp(scores, -1) - torch.logsumexp(scores.masked_fill(~gold, float("-inf")), -1)
        ).sum()
        if self.mention_loss_coef > 0:
            bce = nn.functional.binary_cross_entropy_with_logits(
                out["top_scores"], (top_cluster > 0).float(), reduction="sum"
            )
            loss = loss + self.mention_loss_coef * bce
        return loss


def _span_labels(starts, ends, gold_starts, gold_ends, gold_cluster) -> torch.Tensor:
    """Gold cluster id (>= 1) of each span, 0 for spans that are not gold mentions."""
    if gold_starts.numel() == 0:
        return torch.zeros_like(starts)
    same = (starts[:, None] == gold_starts[None, :]) & (ends[:, None] == gold_ends[None, :])
    return (same.long() * gold_cluster[None, :]).max(dim=-1).values


def _pad(t: torch.Tensor, length: int, value: float) -> torch.Tensor:
    pad = length - t.shape[0]
    return torch.cat([t, t.new_full((pad, *t.shape[1:]), value)]) if pad > 0 else t


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, max(n, 1), size)]
