"""Reward and training-selection sections of a Policy.

``rewards.rule`` names a payout rule and ``rewards.params`` that rule's parameters; both are
validated per rule (like :class:`olkit.reputation.config.ReputationPolicy`): an unknown rule, an
unknown parameter, a non-finite number or a string where a number is expected is an error that
names the key when the policy is loaded (``olkit policy validate``), never at payout time.

Example
-------
>>> from olkit.rewards_config import RewardPolicy
>>> RewardPolicy(params={"duplicates": "split"}).resolved()["duplicates"]
'split'
>>> RewardPolicy(rule="acceptance").resolved()["default_reputation"]
0.5
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from olkit.config import Section, check_rule_params

#: Payout rules for real runs (:func:`olkit.rewards.allocate`).
REWARD_RULES: tuple[str, ...] = ("attribution", "acceptance")


def _num(default: float | None, **kw: Any) -> Any:
    """A strict, finite number field: a quoted string or ``.inf`` is an error, not a coercion."""
    return Field(default, strict=True, allow_inf_nan=False, **kw)


class _RewardParams(Section):
    """Parameters every payout rule shares."""

    duplicates: Literal["first", "split"] = "first"
    default_reputation: float = _num(0.5, ge=0, le=1)
    unit: float | None = _num(None, gt=0)


class AttributionRewardParams(_RewardParams):
    """Pay by measured influence of each trained-on item on the held-out loss (``method``: the
    attribution method of :func:`olkit.attribution.methods.make_method`).

    The redundancy and noise defences of :func:`olkit.attribution.payouts.contributor_payouts`
    (defaults chosen on the tuning seeds of ``benchmarks/reward_attacks_bench.py``):
    ``center`` (scores relative to the ``median`` / ``mean`` training item, or ``none``);
    ``near_dup_threshold`` (TF-IDF cosine) and ``semantic_threshold`` (MiniLM cosine of
    instruction + response) link rows into near-duplicate clusters (``None``: that link is off),
    ``pool_same_question`` links answers to one question; ``cluster_value`` ``first``: a cluster is
    worth its first arrival's value, credited to it (later near-copies earn nothing), ``best``: its
    best item's value; ``item_gate``: a cluster credited less than this fraction of all credited
    value is inside the noise band and earns nothing; ``gate`` ``hard`` pays a contributor below
    ``rewards.noise_gate`` nothing, ``ramp`` fades them in between one and two gates.
    """

    method: Literal["tracin", "tracin_adam", "gradsim", "gradsim_cos", "datainf", "trak", "knn_shapley",
                    "tfidf", "bm25"] = "bm25"
    center: Literal["mean", "median", "none"] = "median"
    near_dup_threshold: float | None = _num(0.85, ge=0, le=1)
    semantic_threshold: float | None = _num(0.92, ge=0, le=1)
    pool_same_question: bool = Field(False, strict=True)
    cluster_value: Literal["first", "best"] = "first"
    item_gate: float = _num(0.02, ge=0, lt=1)
    gate: Literal["hard", "ramp"] = "hard"


class AcceptanceRewardParams(_RewardParams):
    """Pay every unique trained-on item the same."""


REWARD_PARAM_MODELS: dict[str, type[_RewardParams]] = {
    "attribution": AttributionRewardParams,
    "acceptance": AcceptanceRewardParams,
}


class RewardPolicy(Section):
    """How a budget becomes payouts.

    ``rule`` is the payout rule for real runs (``attribution``: by measured influence;
    ``acceptance``: every unique trained-on item alike) with ``params`` validated per rule.
    ``budget_per_epoch`` is the budget of one economy round / simulation epoch.  The epoch-level
    fields drive :mod:`olkit.rewards`'s epoch rules and the reputation simulation: ``epoch_rule``
    splits each epoch's budget by acceptance, by quality score, or by reputation-weighted
    acceptance; ``schedule`` is ``constant`` or ``gravity`` (the budget grows by ``growth_rate`` per
    epoch, up to ``budget_cap`` when set: rising rewards attract farming).
    """

    rule: Literal["attribution", "acceptance"] = "attribution"
    budget_per_epoch: float = _num(1000.0, ge=0)
    params: dict[str, Any] = {}
    epoch_rule: Literal["acceptance", "quality", "reputation_weighted"] = "reputation_weighted"
    schedule: Literal["constant", "gravity"] = "constant"
    growth_rate: float = _num(0.02, ge=0, le=1)
    budget_cap: float | None = _num(None, gt=0)

    #: standing of an identity with no history when payouts are weighted by reputation; ``None``:
    #: the lowest standing among the existing contributors (a fresh identity never outranks anyone)
    newcomer_prior: float | None = _num(None, ge=0, le=1)
    #: a contributor whose attributed value is below this fraction of the total value is inside the
    #: retraining noise band and is paid nothing for it (``benchmarks/attribution_bench.py`` measures it)
    noise_gate: float = _num(0.05, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_params(self) -> RewardPolicy:
        check_rule_params(REWARD_PARAM_MODELS[self.rule], self.rule, self.params, "reward rule")
        return self

    def resolved(self) -> dict[str, Any]:
        """Every parameter of the rule, defaults filled in."""
        return REWARD_PARAM_MODELS[self.rule].model_validate(self.params).model_dump()


class TrainingSelection(Section):
    """Which submissions a fine-tuning run trains on."""

    mode: Literal["accepted", "all", "reputation_weighted"] = "accepted"
    max_examples: int | None = Field(None, ge=1)
