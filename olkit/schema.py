"""The canonical columns of olkit's tables, as polars schemas, plus ids and content hashes.

Every stage speaks these column names.  A *submission* is one contributed item: an
instruction/response pair (instruction datanets) or a ``text`` document (document datanets).
"""

from __future__ import annotations

import hashlib

import polars as pl

#: Columns of the ``submissions`` table (one row per contributed item, never deleted).
SUBMISSION_SCHEMA: dict[str, pl.DataType] = {
    "submission_id": pl.String,  # content-addressed: hash of (datanet, contributor, content, parent)
    "datanet": pl.String,
    "contributor_id": pl.String,
    "instruction": pl.String,
    "response": pl.String,
    "text": pl.String,  # document datanets; null for instruction pairs
    "source": pl.String,  # file path / dataset name / "frame"
    "source_id": pl.String,  # id the record had in its source, if any
    "license": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
    "parent_id": pl.String,  # lineage: revision of / derived from another submission
    "content_hash": pl.String,  # hash of normalised content, for exact dedup
    "meta": pl.String,  # JSON of every source field the mapping did not use
    "ingested_at": pl.Datetime("us", "UTC"),
    "ingest_run": pl.String,
}

#: Columns of the ``contributors`` table.
CONTRIBUTOR_SCHEMA: dict[str, pl.DataType] = {
    "contributor_id": pl.String,
    "first_seen": pl.Datetime("us", "UTC"),
    "n_submissions": pl.Int64,
    "meta": pl.String,
}

#: Columns of the ``decisions`` table (one row per submission per filter run).
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String,
    "submission_id": pl.String,
    "accepted": pl.Boolean,
    "reasons": pl.List(pl.String),  # reason codes of every filter that rejected it
    "scores": pl.String,  # JSON {filter_name: score}
    "policy_hash": pl.String,
    "decided_at": pl.Datetime("us", "UTC"),
}

#: The content fields a submission may carry.
#: Contributor archetypes, in this order everywhere (the sample datanet's ground truth, the
#: simulation's agent slots, the policy lab's adversary accounting).
ARCHETYPES: tuple[str, ...] = ("expert", "casual", "spammer", "farmer", "sybil", "recycler")
#: The archetypes that attack the economy (their payout / reward share is reported).
ADVERSARY_ARCHETYPES: tuple[str, ...] = ("spammer", "farmer", "sybil", "recycler")
#: Default share of contributors per archetype (sums to 1): the sample datanet and the
#: simulation both start from it.
DEFAULT_MIX: dict[str, float] = {"expert": 0.30, "casual": 0.35, "spammer": 0.08,
                                 "farmer": 0.10, "sybil": 0.10, "recycler": 0.07}

CONTENT_FIELDS = ("instruction", "response", "text")
#: Fields every submission must have after mapping.
REQUIRED_FIELDS = ("contributor_id",)


def sha256_hex(*parts: str | None, sep: str = "\x1f") -> str:
    """SHA-256 of the parts joined by a unit separator (``None`` counts as empty)."""
    return hashlib.sha256(sep.join(p or "" for p in parts).encode("utf-8")).hexdigest()


def content_hash(instruction: str | None, response: str | None, text: str | None) -> str:
    """Hash of the normalised content only (who sent it does not matter): for exact dedup."""
    return sha256_hex(instruction, response, text)[:32]


def submission_id(datanet: str, contributor_id: str, content_hash_: str, parent_id: str | None) -> str:
    """A stable, content-addressed id: the same contributor sending the same item gets the same id."""
    return "s_" + sha256_hex(datanet, contributor_id, content_hash_, parent_id)[:24]


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty polars frame with the given schema."""
    return pl.DataFrame(schema=schema)
