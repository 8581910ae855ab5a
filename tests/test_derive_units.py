"""Derived families, unit level: lexicon matching and negation, tagger confidence rules, the
labelled-sample quality floor, where-filters, parent resolution, lineage pairs, the leakage
gate's lineage check, and the local runner's ordering of derived families after their parents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixelgate.workflows import layout
from pixelgate.workflows.api.dataset_family import DatasetFamilySpec, Tagging, TextMatch, Where
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.api.selection import LegacySelectorWarning, Selection
from pixelgate.workflows.local.runner import dependencies, order_items
from pixelgate.workflows.steps.compile import clusters, gates
from pixelgate.workflows.steps.compile.inputs import Plan, id_keys
from pixelgate.workflows.steps.ingest.derive import merge_tags
from pixelgate.workflows.steps.ingest.derive.filters import FilterError, compile_where, session_turns
from pixelgate.workflows.steps.ingest.derive.lexicon import LexiconError, count, find, load, load_ref, parse_lexicon
from pixelgate.workflows.steps.ingest.derive.parents import resolve_parents
from pixelgate.workflows.steps.ingest.derive.tagger import LexiconTagger, TaggingError, make_tagger, score
from pixelgate.workflows.steps.ingest.derive.tagging_eval import evaluate, load_samples
from pixelgate.workflows.steps.ingest.sources import IngestError
from pixelgate.workflows.steps.ingest.stats import IngestStats
from pixelgate.workflows.steps.inputs import store_inputs
from pixelgate.workflows.steps.registry import StepInputError
from pixelgate.workflows.store import LocalStore
from tests.compile_fixtures import compile_resource, make_record, write_family

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "tagging" / "labelled-v1.jsonl"


# ---------------------------------------------------------------- lexicon
def test_phrases_match_on_words_with_prefixes_and_hyphens():
    lex = parse_lexicon("t", 1, "[g]\n2 c-ptsd\n1 dissociat*\n3 end my life\n")
    hits = find(lex, "My C-PTSD makes me dissociate; I dissociated twice. Not ending my life.")
    assert [h.term.text for h in hits] == ["c ptsd", "dissociat*", "dissociat*"]
    assert count(lex, "I want to end my life") == 1 and count(lex, "I'd never end my life") == 0


def test_negation_reaches_three_words_back_within_the_clause():
    crisis = load("crisis", 1)
    assert count(crisis, "I'm not suicidal at all") == 0
    assert count(crisis, "I don't feel suicidal") == 0
    assert count(crisis, "I'm suicidal") == 1
    assert count(crisis, "I'm not sure. I feel suicidal") == 1  # the sentence ended
    assert count(crisis, "I'm not sleeping but I have suicidal thoughts") == 1  # "but" starts a new clause
    assert count(crisis, "no, absolutely nothing helps, really, and now suicidal") == 1  # beyond three words


def test_lexicon_errors_name_what_exists():
    with pytest.raises(LexiconError, match="available at v1: .*cptsd"):
        load("nope", 1)
    with pytest.raises(LexiconError, match="name@version"):
        load_ref("cptsd")
    with pytest.raises(LexiconError, match="@require"):
        parse_lexicon("t", 1, "@require missing\n[g]\n1 word\n")
    assert load_ref("grief@1").name == "grief"


# ---------------------------------------------------------------- tagger
def test_cptsd_needs_a_named_or_chronic_term_symptoms_alone_never_tag():
    cptsd = load("cptsd", 1)
    single_event = [
        ("user", "Since the crash I have flashbacks, nightmares and I feel numb and triggered all the time.")
    ]
    chronic = [("user", "I was abused as a child and since then I have flashbacks.")]
    assert score(cptsd, single_event) == 0.0
    assert score(cptsd, chronic) > 0.6


def test_user_turns_weigh_more_than_assistant_turns_and_repeats_are_capped():
    crisis = load("crisis", 1)
    as_user = score(crisis, [("user", "I keep thinking about suicide.")])
    as_assistant = score(crisis, [("assistant", "I keep thinking about suicide.")])
    assert 0 < as_assistant < as_user < 1
    twice = score(crisis, [("user", "suicide. suicide.")])
    assert score(crisis, [("user", "suicide. " * 10)]) == twice
    assert score(crisis, [("system", "suicide prevention line policy")]) == 0.0


def test_tagger_keeps_tags_at_the_confidence_floor_and_merges_parent_tags():
    tagger = LexiconTagger(["crisis", "grief"], 1, 0.5)
    turns = [("user", "My dad died last month and I want to die too.")]
    scores = tagger.scores(turns)
    assert set(tagger.tag(turns)) == {"crisis", "grief"} and all(0 < c <= 1 for c in scores.values())
    assert LexiconTagger(["crisis", "grief"], 1, 0.99).tag(turns) == {}
    assert merge_tags({"grief": 0.9, "other": 0.3}, {"grief": 0.6, "crisis": 0.7}) == {
        "grief": 0.9,
        "other": 0.3,
        "crisis": 0.7,
    }


def test_unknown_tag_and_missing_embedding_model_fail_naming_the_field(tmp_path):
    with pytest.raises(TaggingError, match="no lexicon 'anxiety'") as err:
        make_tagger(Tagging(tags=["anxiety"]))
    assert err.value.field == "source.derive.tag.tags"
    with pytest.raises(TaggingError, match="downloads no models") as err:
        make_tagger(Tagging(tags=["cptsd"], strategy="embedding", model=str(tmp_path / "absent")))
    assert err.value.field == "source.derive.tag.model"
    with pytest.raises(TaggingError) as err:
        make_tagger(Tagging(tags=["cptsd"], strategy="embedding"))
    assert err.value.field == "source.derive.tag.model"


def test_labelled_sample_quality_floor():
    """The figures in docs/derived-families.md: a lexicon change that lowers them fails here."""
    samples = load_samples(SAMPLE)
    assert len(samples) >= 60 and sum("cptsd" in s.tags for s in samples) >= 20
    tags = ["cptsd", "crisis", "grief", "substance-use"]
    scores = {s.tag: s for s in evaluate(LexiconTagger(tags, 1, 0.5).tag, tags, samples)}
    assert scores["cptsd"].precision >= 0.95 and scores["cptsd"].recall >= 0.8
    assert all(s.f1 >= 0.7 for s in scores.values()), scores
    # hard negatives: single-event trauma never tags cptsd
    trauma = [s.id for s in samples if s.id.startswith("trauma-")]
    assert len(trauma) >= 8 and not set(trauma) & set(scores["cptsd"].false_positives)


# ---------------------------------------------------------------- filters
def _record(
    turns: list[tuple[str, str]], *, quality: float = 0.7, system: str | None = None, stage: str = "foundation"
):
    rec = make_record("p", 0, ([("system", system)] if system else []) + turns, quality=quality)
    return rec.model_copy(update={"provenance": rec.provenance.model_copy(update={"stage": stage})})


def test_turns_and_chars_count_session_turns_only():
    rec = _record([("user", "a" * 10), ("assistant", "b" * 5)], system="x" * 100)
    turns = session_turns(rec)
    assert turns == [("user", "a" * 10), ("assistant", "b" * 5)]
    assert compile_where(Where(min_turns=2, max_chars=15)).before_tagging(rec, turns) is None
    assert compile_where(Where(min_turns=3)).before_tagging(rec, turns) == "minTurns"
    assert compile_where(Where(max_turns=1)).before_tagging(rec, turns) == "maxTurns"
    assert compile_where(Where(min_chars=16)).before_tagging(rec, turns) == "minChars"
    assert compile_where(Where(max_chars=14)).before_tagging(rec, turns) == "maxChars"


def test_first_failing_filter_is_reported_in_order():
    rec = _record([("user", "hello there"), ("assistant", "hi")], quality=0.2, stage="foundation")
    turns = session_turns(rec)
    where = Where(min_turns=5, min_quality=0.5, stages=["edge-stress-test"])
    assert compile_where(where).before_tagging(rec, turns) == "minTurns"
    assert (
        compile_where(Where(min_quality=0.5, stages=["edge-stress-test"])).before_tagging(rec, turns) == "minQuality"
    )
    assert compile_where(Where(stages=["edge-stress-test"])).before_tagging(rec, turns) == "stages"
    no_scores = rec.model_copy(update={"quality": None})
    assert compile_where(Where(min_quality=0.1)).before_tagging(no_scores, turns) == "minQuality"
    filters = compile_where(Where(tags=["cptsd", "grief"]))
    assert filters.after_tagging({"grief": 0.6}) is None and filters.after_tagging({"crisis": 0.9}) == "tags"


def test_text_filters_by_role_with_min_hits():
    rec = _record([("user", "I drink a lot. Drinking every night."), ("assistant", "Tell me about the drinking.")])
    turns = session_turns(rec)
    check = lambda *m: compile_where(Where(text=list(m))).before_tagging(rec, turns)  # noqa: E731
    assert check(TextMatch(role="user", regex=r"\bdrink", min_hits=2)) is None
    assert check(TextMatch(role="user", regex=r"\bdrink", min_hits=3)) == "text[0]"
    assert check(TextMatch(role="any", regex=r"DRINK", min_hits=3)) is None  # case-insensitive
    assert check(TextMatch(role="assistant", lexicon="substance-use@1")) is None
    assert check(TextMatch(role="assistant", lexicon="grief@1")) == "text[0]"
    assert check(TextMatch(regex="night"), TextMatch(role="assistant", regex="never")) == "text[1]"
    with pytest.raises(FilterError, match="not a valid regular expression") as err:
        compile_where(Where(text=[TextMatch(regex="(unclosed")]))
    assert err.value.field == "source.derive.where.text[0].regex"
    with pytest.raises(FilterError) as err:
        compile_where(Where(text=[TextMatch(lexicon="nope@1")]))
    assert err.value.field == "source.derive.where.text[0].lexicon"
    with pytest.raises(FilterError):
        compile_where(Where(min_turns=5, max_turns=2))


# ---------------------------------------------------------------- parents
def test_parents_by_name_and_selector_and_clear_errors(tmp_path):
    store = LocalStore(tmp_path)
    write_family(store, "a", [make_record("a", 0, [("user", "x"), ("assistant", "y")])], labels={"kind": "public"})
    write_family(store, "b", [make_record("b", 0, [("user", "x"), ("assistant", "y")])], labels={"kind": "public"})
    write_family(store, "c", [make_record("c", 0, [("user", "x"), ("assistant", "y")])], labels={"kind": "other"})
    write_family(
        store, "self", [make_record("self", 0, [("user", "x"), ("assistant", "y")])], labels={"kind": "public"}
    )

    def parents(selection: Selection, family: str = "self"):
        return resolve_parents(
            store, selection, family, store_inputs("DatasetFamily", family, _derived(selection), store)
        )

    by_selector = parents(Selection(selector={"matchLabels": {"kind": "public"}}))
    assert [p.name for p in by_selector] == ["a", "b"]
    both = Selection(names=["c"], selector={"matchLabels": {"kind": "public"}})
    assert [p.name for p in parents(both)] == ["a", "b", "c"]
    assert by_selector[0].root == store.read_json(layout.family_pointer("a"))["target"]
    with pytest.raises(IngestError, match=r"source.derive.from.names: parent family ghost has no output") as err:
        parents(Selection(names=["a", "ghost"]))
    assert err.value.field == "source.derive.from.names"
    with pytest.raises(IngestError, match="source.derive.from.selector"):
        parents(Selection(selector={"matchLabels": {"kind": "none"}}))
    with pytest.raises(IngestError, match="itself"):
        parents(Selection(names=["self"]))
    # a parent that moved on since the workflow was rendered is refused, naming the field
    inputs = store_inputs("DatasetFamily", "self", _derived(Selection(names=["a"])), store)
    pointer = store.read_json(layout.family_pointer("a"))
    store.write_json(layout.family_pointer("a"), {**pointer, "spec_hash": "re-ingested"})
    with pytest.raises(StepInputError, match="changed since this workflow was made") as err:
        resolve_parents(store, Selection(names=["a"]), "self", inputs)
    assert err.value.field == "source.derive.from"


def test_the_legacy_selector_map_is_read_as_match_labels():
    with pytest.warns(LegacySelectorWarning):
        legacy = Selection.model_validate({"selector": {"kind": "public"}})
    assert legacy == Selection(selector={"matchLabels": {"kind": "public"}})
    with pytest.raises(ValueError, match="matchLabels"):
        Selection.model_validate({"selector": {"matchLabels": {}}})


def _derived(selection: Selection) -> DatasetFamilySpec:
    return DatasetFamilySpec.model_validate({"source": {"derive": {"from": selection.to_wire()}}})


def test_stats_omit_filtered_when_empty():
    base = dict(
        family="f",
        spec_hash="h",
        pipeline_version="1",
        sources=[],
        rows_read=0,
        records_in=0,
        records_out=0,
        quarantined={},
        turns_out=0,
        empty_turns_dropped=0,
        encoding_fixes={},
        pii_entities={},
        pii_ner_texts=0,
        pii_texts=0,
        histograms={},
        quality_mean={},
    )
    assert "filtered" not in IngestStats(**base).model_dump(mode="json")
    assert IngestStats(**base, filtered={"minTurns": 3}).model_dump(mode="json")["filtered"] == {"minTurns": 3}


# ---------------------------------------------------------------- lineage in compile
def test_lineage_pairs_find_parents_among_records():
    keys = id_keys(["p0", "p1", "c0", "c1"])
    pairs = clusters.lineage_pairs(keys, np.array([2, 3, 3]), id_keys(["p1", "p0", "absent"]))
    assert pairs.tolist() == [[2, 1], [3, 0]]
    assert clusters.lineage_pairs(keys, np.zeros(0, np.int64), np.zeros(0, np.uint64)).shape == (0, 2)


def test_leakage_gate_fails_a_parent_and_child_in_different_splits():
    parent = make_record(
        "base",
        0,
        [
            ("user", "How do I sleep better after long shifts at the hospital?"),
            ("assistant", "Try a wind-down routine."),
        ],
    )
    child = make_record(
        "kid",
        0,
        [
            ("user", "Completely different words about gardening and tomatoes in spring."),
            ("assistant", "Water them early."),
        ],
    )
    child = child.model_copy(update={"provenance": child.provenance.model_copy(update={"parents": [parent.id]})})
    spec = compile_resource("g", ["base", "kid"]).spec
    plan = Plan(
        compile="g",
        spec_hash="x",
        families=[],
        shards=[],
        total=2,
        num_perm=spec.dedup.near.num_perm,
        bands=16,
        rows=8,
    )
    records = [
        parent.model_copy(update={"split": "train"}).model_dump(mode="json"),
        child.model_copy(update={"split": "test"}).model_dump(mode="json"),
    ]
    report, _ = gates.verify(spec, plan, "g", "x", iter(records), lambda idx: {})
    leakage = next(g for g in report.gates if g.name == "leakage")
    assert not leakage.passed and leakage.observed == "0 duplicate pairs and 1 parent/child pairs across splits"
    assert leakage.offenders == [{"a": child.id, "b": parent.id, "splits": ["test", "train"], "lineage": True}]
    records[1]["split"] = "train"
    report, _ = gates.verify(spec, plan, "g", "x", iter(records), lambda idx: {})
    assert next(g for g in report.gates if g.name == "leakage").passed


# ---------------------------------------------------------------- local runner
def test_runner_orders_derived_families_after_their_parents():
    items = load_items([str(REPO / "examples" / "derived"), str(REPO / "examples" / "public")])
    ordered = [i.resource.name for i in order_items(items)]
    by_name = {i.resource.name: i for i in items}
    assert dependencies(by_name["long-sessions"], items) == [("DatasetFamily", "annomi"), ("DatasetFamily", "esconv")]
    publics = {i.resource.name for i in items if i.resource.metadata.labels.get("pixelgate.dev/example") == "public"}
    assert {n for _, n in dependencies(by_name["cptsd"], items)} == publics
    for derived in ("long-sessions", "cptsd"):
        assert all(ordered.index(p) < ordered.index(derived) for _, p in dependencies(by_name[derived], items))
    assert dependencies(by_name["esconv"], items) == []
