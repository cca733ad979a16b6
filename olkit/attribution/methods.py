"""Attribution methods.  Each has ``attribute(ctx, train, eval) -> Attribution``.

Gradient methods work on the LoRA parameters only (the base model is frozen in QLoRA, so that is
where fine-tuning data acts):

* :class:`GradientSimilarity`: ``<g_train, g_eval>`` (or cosine) at the final adapter;
* :class:`TracIn`: ``sum_t eta_t <g_train(t), g_eval(t)>`` over saved checkpoints (Pruthi et al. 2020);
* :class:`DataInf`: closed-form influence per LoRA layer (Kwon et al. 2024), no inverse Hessian;
* :class:`TRAK`: random projection of gradients to ``k`` dims, then ``phi_e (Phi^T Phi + lambda I)^-1 phi_t``
  (Park et al. 2023); memory does not grow with the parameter count.

Model-free methods:

* :class:`KNNShapley`: exact recursive KNN-Shapley (Jia et al. 2019) on MiniLM embeddings;
* :class:`SpanMatch` (in :mod:`olkit.attribution.spans`): longest exact matches in generated text.

Scores: positive = helpful (lowers the eval loss).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from olkit.attribution.base import Method, ModelContext  # Method: the base class, re-exported
from olkit.attribution.grads import GradBlocks, Projector, dequantized, per_example_grads, precondition
from olkit.train.qlora import Checkpoint, load_lora_state, lora_state


def _grads(ctx: ModelContext, frame: pl.DataFrame, chunk: int, state=None) -> GradBlocks:
    return per_example_grads(ctx.model, ctx.batch(frame), chunk=chunk, state=state)


class _GradientMethod(Method):
    """A method scored from per-example LoRA gradients: one attribution call dequantises a 4-bit
    base once (:func:`~olkit.attribution.grads.dequantized`), however many gradient passes
    (train and eval rows, checkpoints) it makes."""

    def attribute(self, ctx, train, eval):
        if ctx is None:
            return super().attribute(ctx, train, eval)  # the base class refuses a missing model
        with dequantized(ctx.model):
            return super().attribute(ctx, train, eval)


class GradientSimilarity(_GradientMethod):
    """Dot product (``normalize=False``) or cosine of per-example LoRA gradients at the adapter.

    Example
    -------
    >>> GradientSimilarity(normalize=True).name
    'gradsim'
    """

    name = "gradsim"

    def __init__(self, *, normalize: bool = False, chunk: int = 32) -> None:
        self.normalize, self.chunk = normalize, chunk

    def _scores(self, ctx, train, eval):
        gt, ge = _grads(ctx, train, self.chunk).flat(), _grads(ctx, eval, self.chunk).flat()
        if self.normalize:
            gt = gt / gt.norm(dim=1, keepdim=True).clamp(min=1e-12)
            ge = ge / ge.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return (gt.double() @ ge.double().T).numpy(), {"dim": int(gt.shape[1])}


class TracIn(_GradientMethod):
    """TracIn-CP: ``sum_t eta_t <g_train(w_t), g_eval(w_t)>`` over the context's checkpoints.

    ``max_checkpoints`` keeps that many evenly spaced checkpoints (cost is linear in it).  With no
    checkpoints it reduces to gradient similarity at the final adapter.  ``adam=True`` multiplies the
    training gradient by the checkpoint's Adam preconditioner ``1/(sqrt(v_hat)+eps)`` -- the direction
    an Adam step actually takes (LESS, Xia et al. 2024); an adapter without optimizer state at any
    checkpoint is refused (:class:`~olkit.errors.OlkitError`), never silently scored as plain TracIn.
    """

    name = "tracin"

    def __init__(self, *, max_checkpoints: int = 3, adam: bool = False, normalize: bool = False,
                 chunk: int = 32) -> None:
        self.max_checkpoints, self.adam, self.normalize, self.chunk = max_checkpoints, adam, normalize, chunk
        if adam:
            self.name = "tracin_adam"

    def _scores(self, ctx, train, eval):
        cks = list(ctx.checkpoints)
        final = lora_state(ctx.model)
        if not cks:
            cks = [Checkpoint(0, 1.0, final)]
        if self.adam:
            if not any(ck.precond is not None for ck in cks):
                from olkit.errors import OlkitError

                raise OlkitError("tracin_adam needs Adam's second moments at the checkpoints and this "
                                 "adapter has none (train with an Adam optimizer and checkpoints that "
                                 "save its state, or use method 'tracin')")
            # Adam steps only exist after the first update: use checkpoints with optimizer state
            cks = [ck for ck in cks if ck.precond is not None]
        if len(cks) > self.max_checkpoints:
            idx = np.unique(np.linspace(0, len(cks) - 1, self.max_checkpoints).round().astype(int))
            cks = [cks[i] for i in idx]
        total = np.zeros((train.height, eval.height))
        try:
            for ck in cks:
                blocks = _grads(ctx, train, self.chunk, state=ck.state)
                if self.adam and ck.precond is not None:
                    blocks = precondition(blocks, ck.precond)
                gt = blocks.flat().double()
                if self.normalize:
                    gt = gt / gt.norm(dim=1, keepdim=True).clamp(min=1e-12)
                ge = _grads(ctx, eval, self.chunk, state=ck.state).flat().double()
                total += ck.lr * (gt @ ge.T).numpy()
        finally:
            load_lora_state(ctx.model, final)
        return total, {"steps": [ck.step for ck in cks]}


class DataInf(_GradientMethod):
    """DataInf closed-form influence on LoRA layers (Kwon et al., ICLR 2024).

    Per LoRA module ``l`` with per-example gradients ``g_k``, the damped empirical Fisher inverse is
    approximated by ``(1/(n lambda_l)) sum_k (I - g_k g_k^T / (lambda_l + |g_k|^2))`` so

    ``v^T H_l^-1 g_i = (1/lambda_l) [v.g_i - (1/n) sum_k (v.g_k)(g_k.g_i) / (lambda_l + |g_k|^2)]``,

    computed with two Gram matrices per layer (no ``d x d`` matrix, no inverse).  ``lambda_l`` is
    ``damping x mean_k |g_k|^2`` as in the paper.  Scores are summed over layers.
    """

    name = "datainf"

    def __init__(self, *, damping: float = 0.1, chunk: int = 32) -> None:
        self.damping, self.chunk = damping, chunk

    def _scores(self, ctx, train, eval):
        gt, ge = _grads(ctx, train, self.chunk), _grads(ctx, eval, self.chunk)
        total = torch.zeros(gt.n, ge.n, dtype=torch.float64)
        for name, g in gt.blocks.items():
            total += datainf_layer(g.double(), ge.blocks[name].double(), self.damping)
        return total.numpy(), {"layers": len(gt.blocks)}


def datainf_layer(g: torch.Tensor, v: torch.Tensor, damping: float = 0.1) -> torch.Tensor:
    """DataInf scores of one layer: ``(n_train, n_eval)`` matrix of ``v_j^T H^-1 g_i``.

    ``H^-1 = (1/n) sum_k (g_k g_k^T + lambda I)^-1`` is applied through Sherman-Morrison, using only
    the Gram matrices ``g g^T`` and ``v g^T`` (no ``d x d`` matrix).
    """
    n = g.shape[0]
    sq = (g * g).sum(1)
    lam = damping * sq.mean().clamp(min=1e-12)
    vg = v @ g.T  # (m, n)
    gg = g @ g.T  # (n, n)
    corr = (vg / (lam + sq)) @ gg / n
    return ((vg - corr) / lam).T


class TRAK(_GradientMethod):
    """TRAK-style projected-gradient influence: ``phi_e (Phi^T Phi + lambda I)^-1 phi_t^T``.

    Gradients are projected block by block to ``k`` dims (:class:`~olkit.attribution.grads.Projector`)
    at each of up to ``max_checkpoints`` checkpoints (the "ensemble"), and the kernels are summed.
    ``damping`` is relative to the mean eigenvalue of ``Phi^T Phi``.
    """

    name = "trak"

    def __init__(self, *, k: int = 256, damping: float = 1.0, max_checkpoints: int = 1, seed: int = 0,
                 chunk: int = 32) -> None:
        self.k, self.damping, self.max_checkpoints, self.seed, self.chunk = k, damping, max_checkpoints, seed, chunk

    def _scores(self, ctx, train, eval):
        final = lora_state(ctx.model)
        states = [final]
        if self.max_checkpoints > 1 and ctx.checkpoints:
            cks = ctx.checkpoints[1:]
            idx = np.unique(np.linspace(0, len(cks) - 1, self.max_checkpoints - 1).round().astype(int))
            states = [cks[i].state for i in idx] + [final]
        total = np.zeros((train.height, eval.height))
        proj = Projector(self.k, seed=self.seed)
        try:
            for state in states:
                pt = proj.project(_grads(ctx, train, self.chunk, state=state)).double()
                pe = proj.project(_grads(ctx, eval, self.chunk, state=state)).double()
                kernel = pt.T @ pt
                lam = self.damping * torch.trace(kernel) / self.k
                inv = torch.linalg.solve(kernel + lam * torch.eye(self.k, dtype=kernel.dtype), pe.T)
                total += (pt @ inv).numpy()
        finally:
            load_lora_state(ctx.model, final)
        return total / len(states), {"n_models": len(states)}


class KNNShapley(Method):
    """Exact KNN-Shapley (Jia et al., VLDB 2019) on MiniLM embeddings: a model-free baseline.

    Neighbours are ranked by cosine distance between embeddings of the full items
    (instruction + response).  The utility of a training item for an eval item is the cosine
    similarity of their *responses* (a soft "same label"), centred on its mean over the training
    set; the utility of a set is the mean utility of its ``k`` nearest members, whose Shapley values
    follow the exact recursion

    ``s_N = u_N / N``,  ``s_i = s_{i+1} + (u_i - u_{i+1}) / K * min(K, i) / i``,

    evaluated for all eval items at once with a reversed cumulative sum.
    """

    name = "knn_shapley"
    needs_model = False

    def __init__(self, *, k: int = 5, encoder=None, batch_size: int = 64) -> None:
        self.k, self.batch_size = k, batch_size
        self._encoder = encoder

    def params(self) -> dict:
        return {"k": self.k}

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from olkit.embedded import minilm_encoder

            self._encoder = minilm_encoder()
        return np.asarray(self._encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                               show_progress_bar=False), dtype=np.float64)

    def _scores(self, ctx, train, eval):
        def full(f):
            return (f["instruction"] + "\n" + f["response"]).to_list()

        xt = self._embed(full(train) + train["response"].to_list())
        xe = self._embed(full(eval) + eval["response"].to_list())
        n = train.height
        ft, rt, fe, re_ = xt[:n], xt[n:], xe[: eval.height], xe[eval.height:]
        util = re_ @ rt.T  # (m, n)
        util = util - util.mean(axis=1, keepdims=True)
        return knn_shapley_values(fe @ ft.T, util, self.k).T, {}


def knn_shapley_values(similarity: np.ndarray, utility: np.ndarray, k: int) -> np.ndarray:
    """Exact KNN-Shapley values, vectorised over eval rows.

    ``similarity`` and ``utility`` are ``(m, n)``; returns ``(m, n)`` Shapley values whose rows sum
    to the utility of the full set (the mean utility of the ``k`` nearest training items).

    Example
    -------
    >>> sim = np.array([[0.9, 0.5, 0.1]])
    >>> util = np.array([[1.0, 0.0, 1.0]])
    >>> vals = knn_shapley_values(sim, util, k=1)
    >>> bool(np.isclose(vals.sum(), 1.0))
    True
    """
    m, n = similarity.shape
    order = np.argsort(-similarity, axis=1, kind="stable")
    u = np.take_along_axis(utility, order, axis=1)  # nearest first
    i = np.arange(1, n, dtype=np.float64)  # 1-indexed positions 1..n-1
    diffs = (u[:, :-1] - u[:, 1:]) / k * np.minimum(k, i) / i
    s_sorted = np.empty((m, n))
    s_sorted[:, -1] = u[:, -1] / n
    s_sorted[:, :-1] = s_sorted[:, -1:] + np.cumsum(diffs[:, ::-1], axis=1)[:, ::-1]
    out = np.empty((m, n))
    np.put_along_axis(out, order, s_sorted, axis=1)
    return out


class TextSimilarity(Method):
    """Model-free text baseline: TF-IDF cosine (``tfidf``) or Okapi BM25 (``bm25``) of each eval item
    against each training item (instruction + response), IDF fitted on the training rows.

    Scores are centred per eval item (minus the mean over training items), so an item that matches
    nothing in particular (spam) scores below zero, like harmful data under the gradient methods.

    Example
    -------
    >>> import polars as pl
    >>> tr = pl.DataFrame({"submission_id": ["a", "b"], "contributor_id": ["x", "y"],
    ...                    "instruction": ["Boil eggs?", "Tune harp?"], "response": ["Boil them.", "Tune it."]})
    >>> ev = pl.DataFrame({"instruction": ["Boil eggs?"], "response": ["Boil them."]})
    >>> TextSimilarity("tfidf").attribute(None, tr, ev).scores[:, 0].argmax()
    np.int64(0)
    """

    needs_model = False

    def __init__(self, kind: str = "tfidf", *, k1: float = 1.5, b: float = 0.75) -> None:
        if kind not in ("tfidf", "bm25"):
            raise ValueError(f"kind must be 'tfidf' or 'bm25', not {kind!r}")
        self.kind, self.k1, self.b = kind, k1, b
        self.name = kind

    def _scores(self, ctx, train, eval):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        def text(f):
            return (f["instruction"].fill_null("") + " " + f["response"].fill_null("")).to_list()

        pattern = r"(?u)\b\w+\b"
        if self.kind == "tfidf":
            vec = TfidfVectorizer(token_pattern=pattern, sublinear_tf=True).fit(text(train))
            s = (vec.transform(text(train)) @ vec.transform(text(eval)).T).toarray()
        else:
            vec = CountVectorizer(token_pattern=pattern).fit(text(train))
            tf = vec.transform(text(train)).tocsr().astype(np.float64)
            q = (vec.transform(text(eval)) > 0).astype(np.float64)
            n = tf.shape[0]
            df = np.asarray((tf > 0).sum(0)).ravel()
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            dl = np.asarray(tf.sum(1)).ravel()
            norm = self.k1 * (1 - self.b + self.b * dl / max(dl.mean(), 1e-12))
            tf = tf.tocoo()
            w = tf.data * (self.k1 + 1) / (tf.data + norm[tf.row]) * idf[tf.col]
            from scipy.sparse import csr_matrix

            s = (csr_matrix((w, (tf.row, tf.col)), shape=tf.shape) @ q.T).toarray()
        return s - s.mean(axis=0, keepdims=True), {}


METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (GradientSimilarity, TracIn, DataInf, TRAK, KNNShapley)
}
GRADIENT_METHODS = ("gradsim", "tracin", "datainf", "trak")
#: methods that read only the text (no model context needed)
MODEL_FREE_METHODS = ("tfidf", "bm25")


def make_method(name: str, **params) -> Method:
    """A method by name (``gradsim``, ``gradsim_cos``, ``tracin``, ``tracin_adam``, ``datainf``, ``trak``, ``knn_shapley``,
    ``tfidf``, ``bm25``, ``span``)."""
    if name == "gradsim_cos":
        return GradientSimilarity(normalize=True, **params)
    if name == "tracin_adam":
        return TracIn(adam=True, **params)
    if name in MODEL_FREE_METHODS:
        return TextSimilarity(name, **params)
    if name == "span":
        from olkit.attribution.spans import SpanMatch

        return SpanMatch(**params)
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {name!r}; choose from "
                         f"{', '.join([*METHODS, 'gradsim_cos', 'tracin_adam', 'tfidf', 'bm25', 'span'])}")
    return METHODS[name](**params)
