"""PII detection quality on labelled public data (span and token level; method in docs/pii.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pixelgate.workflows.steps.ingest.pii import (
    DEFAULT_NER_MODEL,
    PiiDetector,
    Span,
    english_words,
    known_name_spans,
    name_evidence,
    needs_ner,
    ner_chunks,
    redact,
    refine_persons,
    regex_spans,
    resolve_overlaps,
    unknown_word_spans,
)
from pixelgate.workflows.steps.ingest.pii_eval import (
    EVAL_TYPES,
    Example,
    io_tags,
    iou_score,
    load_synth,
    load_wnut,
    score,
    split_half,
    tagged_spans,
    token_confusion,
    token_score,
    tokens,
)


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(sorted(EVAL_TYPES))


def _predict(detector: PiiDetector, examples) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.entity) for s in spans] for spans in detector.detect([e.text for e in examples])]


def test_synth_dataset_v2_f2(datasets: Path, detector: PiiDetector) -> None:
    examples = load_synth(datasets / "presidio-synth-pii" / "synth_dataset_v2.json")
    assert len(examples) == 1500
    predictions = _predict(detector, examples)
    scores = score(examples, predictions)
    overall = scores.row()
    assert overall["support"] == 2342  # spans of the evaluated types (SOURCE.md counts, mapped)
    assert overall["f2"] >= 0.88  # measured 0.889; vanilla presidio 0.478 on the same metric (benchmark)
    for entity in ("EMAIL_ADDRESS", "US_SSN", "IP_ADDRESS", "URL"):
        assert scores.row(entity)["f2"] == 1.0, entity
    for entity in ("CREDIT_CARD", "IBAN_CODE", "AGE"):
        assert scores.row(entity)["f2"] >= 0.89, entity
    assert scores.row("LOCATION")["f2"] >= 0.87 and scores.row("PERSON")["f2"] >= 0.83  # measured 0.878, 0.835
    # the held-out half (never looked at while tuning the PERSON/LOCATION rules) is the headline
    held = [i for i, e in enumerate(examples) if split_half(e.text) == "heldout"]
    assert len(held) == 740
    held_ex, held_pred = [examples[i] for i in held], [predictions[i] for i in held]
    assert score(held_ex, held_pred).row()["f2"] >= 0.87  # measured 0.878
    token = token_score(held_ex, held_pred, EVAL_TYPES)
    assert token.row()["f2"] >= 0.92  # measured 0.926 (presidio-research's token method)
    assert token.row("PERSON")["f2"] >= 0.885 and token.row("LOCATION")["f2"] >= 0.89  # measured 0.893, 0.899
    # presidio-research's span method (IoU): measured 0.896 / 0.866 / 0.830 at 0.5 / 0.7 / 0.9; the goal is
    # F2 >= 0.85 at IoU 0.7, the setting of presidio-research's best published tuned pipeline (0.845)
    iou = {t: iou_score(held_ex, held_pred, EVAL_TYPES, t).row()["f2"] for t in (0.5, 0.7, 0.9)}
    assert iou[0.5] >= 0.885 and iou[0.7] >= 0.86 and iou[0.9] >= 0.82
    assert iou[0.5] >= iou[0.7] >= iou[0.9]


def test_wnut17_person_location_recall(datasets: Path, detector: PiiDetector) -> None:
    examples = list(load_wnut(datasets / "wnut17" / "emerging.test.annotated"))
    assert len(examples) == 1287
    scores = score(examples, _predict(detector, examples))
    assert scores.row("PERSON")["support"] == 429 and scores.row("LOCATION")["support"] == 150  # SOURCE.md
    # lower-cased, noisy tweets are hard for the small model and for the capitalization gate (docs/pii.md)
    assert scores.row("PERSON")["recall"] >= WNUT_PERSON_RECALL
    assert scores.row("LOCATION")["recall"] >= WNUT_LOCATION_RECALL


WNUT_PERSON_RECALL = 0.41  # measured 0.415
WNUT_LOCATION_RECALL = 0.415  # measured 0.420


def test_fast_path_gate() -> None:
    assert not needs_ner("I feel so tired. Hello, how are you? Thanks for listening.")
    assert needs_ner("Yesterday I talked to Maria about it.")
    assert needs_ner("Leif, can I please speak to your boss?")
    # an initial or a title does not end the chunk, so the whole name reaches the model together
    text = "Hanne I. Kreutzmann called. Dr. Kyle Kuefer too."
    assert [text[a:b] for a, b in ner_chunks(text)] == ["Hanne I. Kreutzmann called.", "Dr. Kyle Kuefer too."]


def test_person_and_location_rules() -> None:
    def found(text: str, entities=("PERSON", "LOCATION")) -> set[tuple[str, str]]:
        return {(text[s.start : s.end], s.entity) for s in resolve_overlaps(regex_spans(text, frozenset(entities)))}

    assert ("the corner of 35 Pentelis Str. and Waechter Turnpike", "LOCATION") in found(
        "It's in the corner of 35 Pentelis Str. and Waechter Turnpike"
    )
    assert ("Tjæreborg", "LOCATION") in found("We moved here from Tjæreborg")
    assert ("tunisia", "LOCATION") in found("we moved here from tunisia")  # lower case after a place preposition
    assert not found("i love turkey sandwiches from china town")  # never countries that are common words
    assert ("USNS Bergman", "LOCATION") in found("Megan Carey\nUSNS Bergman\nFPO AP 93757")
    assert ("704 1436 Redbud Drive", "LOCATION") in found(
        "The restaurant is at 704 1436 Redbud Drive. It serves food."
    )
    assert {("Nicole", "PERSON"), ("John", "PERSON")} <= found("Nicole: Remember me?\nJohn: You saved my life!")
    assert not {e for _, e in found("Phone: 555\nNote: call back\nTherapist: How are you?")} & {"PERSON"}
    assert ("Boyle", "PERSON") in found("What's your last name? Boyle")
    assert not found("She says I should rest.")  # a cue followed by a common word is no name


def test_refine_persons() -> None:
    def refine(text: str, *names: str) -> set[tuple[str, str]]:
        spans = [Span(text.index(n), text.index(n) + len(n), "PERSON", 0.65, "spacy") for n in names]
        return {(text[s.start : s.end], s.entity) for s in refine_persons(text, spans)}

    assert refine("Hello, this is Dr. Kyle Kuefer's desk", "Dr. Kyle Kuefer's") == {("Kyle Kuefer", "PERSON")}
    assert refine("Hanne I. Kreutzmann spoke", "Hanne I.", "Kreutzmann") == {("Hanne I. Kreutzmann", "PERSON")}
    assert refine("Meet at Crown St tonight", "Crown") == {("Crown St", "LOCATION")}
    assert refine("the corner of Dalbraut 99 and Main", "Dalbraut") == {("Dalbraut 99", "LOCATION")}
    assert refine("Rand Corporation called", "Rand Corporation") == set()
    assert refine('you ask? Answer:"Tube Snake Boogie"', 'Answer:"Tube Snake Boogie') == set()
    text = "Our founders: Kónya, Becker and Vasquez. Early Vasquez was best."
    assert refine(text, "Becker") == {("Kónya", "PERSON"), ("Becker", "PERSON"), ("Vasquez", "PERSON")}
    becker = Span(text.index("Becker"), text.index("Becker") + 6, "PERSON", 0.65, "spacy")
    assert len([s for s in refine_persons(text, [becker]) if text[s.start : s.end] == "Vasquez"]) == 1  # list only
    text = "Faina D. Yefremova wrote it. Early Yefremova was best."
    assert [text[s.start : s.end] for s in refine_persons(text, [Span(0, 18, "PERSON", 0.65, "spacy")])] == [
        "Faina D. Yefremova",
        "Yefremova",
    ]
    assert refine("the Pros and Cons of it", "Pros") == {("Pros", "PERSON")}  # two words are no list


def test_structured_recognizers_and_redaction() -> None:
    text = "SSN 078-05-1120, card 4111 1111 1111 1111, ip 10.0.0.256 and 192.168.1.20, I'm 34 years old."
    spans = {(text[s.start : s.end], s.entity) for s in regex_spans(text, frozenset(EVAL_TYPES))}
    assert {
        ("078-05-1120", "US_SSN"),
        ("4111 1111 1111 1111", "CREDIT_CARD"),
        ("192.168.1.20", "IP_ADDRESS"),
        ("34", "AGE"),
    } <= spans
    assert not any(v == "10.0.0.256" for v, _ in spans)  # octet out of range
    detector = PiiDetector(["US_SSN", "AGE"])
    [found] = detector.detect(["My SSN is 078-05-1120 and I am 34."])
    assert redact("My SSN is 078-05-1120 and I am 34.", found) == "My SSN is <US_SSN> and I am <AGE>."
    assert regex_spans("License D1234567 A12345", frozenset(["US_DRIVER_LICENSE"])) == []  # no such recognizer


def test_token_scorer_io_tags_and_overlaps() -> None:
    text = "My name is John Smith."
    toks = tokens(text)
    assert [t for _, t in toks] == ["My", "name", "is", "John", "Smith", "."]
    assert io_tags(toks, [(11, 21, "PERSON")]) == ["O", "O", "O", "PERSON", "PERSON", "O"]
    # a span inside one token tags it; overlapping spans: the higher score wins the token
    assert io_tags(tokens("id:12345"), [(3, 8, "ID")]) == ["ID"]
    assert io_tags(toks, [(11, 21, "PERSON", 0.6), (16, 21, "LOCATION", 0.9)])[3:5] == ["PERSON", "LOCATION"]


def test_token_scorer_counts_like_presidio_research() -> None:
    keep = frozenset({"PERSON", "LOCATION"})
    # "at" is predicted PERSON but is a stop word: the mismatch is not counted; "home" is O/O
    c = token_confusion("Call John at home", [(5, 9, "PERSON")], [(5, 12, "PERSON")], keep)
    assert c == {("O", "O"): 2, ("PERSON", "PERSON"): 1}
    # types outside the supported set are "O" on both sides
    c = token_confusion("Visit Paris today", [(6, 11, "GPE")], [(0, 5, "DATE_TIME")], keep)
    assert c == {("O", "O"): 3}
    # a LOCATION token predicted as PERSON: wrong for each entity, but PII found overall
    ex = [Example("Visit Paris with Anna", ((6, 11, "LOCATION"), (17, 21, "PERSON")))]
    s = token_score(ex, [[(6, 11, "PERSON")]], keep)
    assert s.row("LOCATION")["recall"] == 0.0 and s.row("PERSON")["precision"] == 0.0
    overall = s.row()
    assert (overall["precision"], overall["recall"], overall["support"]) == (1.0, 0.5, 2.0)
    assert overall["f2"] == pytest.approx(5 * 1.0 * 0.5 / (4 * 1.0 + 0.5))


def test_iou_scorer_spans_and_matching() -> None:
    keep = frozenset({"PERSON", "LOCATION"})
    text = "Write to 12 Main St , Springfield or call John Smith ."
    toks = tokens(text)
    tags = io_tags(toks, [(9, 19, "LOCATION"), (22, 33, "LOCATION"), (42, 52, "PERSON")])
    # runs of one type separated only by skip words merge; bounds exclude skip words
    assert [(text[s.start : s.end], s.kind) for s in tagged_spans(toks, tags)] == [
        ("12 Main St , Springfield", "LOCATION"),
        ("John Smith", "PERSON"),
    ]
    gold = [Example("Call John Smith at home", ((5, 15, "PERSON"),))]
    # IoU 4/10 for "John": a miss at 0.5 (and a false positive), a hit at 0.4
    assert iou_score(gold, [[(5, 9, "PERSON")]], keep, 0.5).row()["recall"] == 0.0
    assert iou_score(gold, [[(5, 9, "PERSON")]], keep, 0.4).row() == {
        "precision": 1.0,
        "recall": 1.0,
        "f2": 1.0,
        "support": 1.0,
    }
    # two predictions of the gold type count together (one predicted span), IoU 9/10
    both = iou_score(gold, [[(5, 9, "PERSON"), (10, 15, "PERSON")]], keep, 0.7)
    assert both.row("PERSON")["recall"] == 1.0 and both.typed.n_pred["PERSON"] == 1
    # a wrong type: missed per entity, found overall (type-agnostic); types outside keep ignored
    wrong = iou_score(gold, [[(5, 15, "LOCATION"), (19, 23, "DATE_TIME")]], keep, 0.7)
    assert wrong.row("PERSON")["recall"] == 0.0 and wrong.row("LOCATION")["precision"] == 0.0
    assert wrong.row() == {"precision": 1.0, "recall": 1.0, "f2": 1.0, "support": 1.0}
    # a prediction overlapping no gold span is a false positive
    later = [Example("Call John Smith today from Paris", ((5, 15, "PERSON"),))]
    fp = iou_score(later, [[(5, 15, "PERSON"), (27, 32, "LOCATION")]], keep, 0.7).row()
    assert (fp["precision"], fp["recall"]) == (0.5, 1.0)
    # overall, PII spans separated only by skip words are one span ("John Smith at home")
    merged = iou_score(gold, [[(5, 15, "PERSON"), (19, 23, "LOCATION")]], keep, 0.7)
    assert merged.row("PERSON")["recall"] == 1.0 and merged.row()["recall"] == 0.0


def test_unknown_words_names_and_places() -> None:
    words = english_words(DEFAULT_NER_MODEL)
    assert {"depression", "anxiety", "walker", "children", "got"} <= words  # base forms and irregular forms

    def found(text: str) -> set[tuple[str, str]]:
        return {(text[s.start : s.end], s.entity) for s in unknown_word_spans(text, words)}

    assert found("Shovda is very reliable.") == {("Shovda", "PERSON")}
    assert found("They sang the verses from Edi Živković and more") == {
        ("Edi Živković", "PERSON")
    }  # two unknown words
    assert found("They sang the verses from Živković and more") == set()  # one, mid-sentence: a name or a brand
    assert found("Aloisia, can I please speak to your boss?") == {("Aloisia", "PERSON")}
    assert found("I'm in HARSTAD, at the conference") == {("HARSTAD", "LOCATION")}
    # English words and their forms, typos, fillers, acronyms, other languages, companies: nothing
    for text in (
        "Depression is hard.",
        "Children can only share so much",
        "Resparking your passion helps",
        "Hve you tried talking?",
        "Alot of parents feel it",
        "Youre right",
        "Heck, sure thing",
        "RPGs are my go to",
        "We met at ADHD group",
        "Mezcla las palabras",
        "Ella no puede colorear",
        "Streetcred Software is a bank",
        "Telenav\nDesign agency",
        "Soy Consejera Profesional Licenciada en Texas y en Puerto Rico, veo clientes de todas las edades",
    ):
        assert found(text) == set(), text
    assert unknown_word_spans("Shovda is very reliable.", frozenset()) == []  # a model without a dictionary


def test_known_names_from_name_lists() -> None:
    evidence = name_evidence(DEFAULT_NER_MODEL)
    assert len(evidence.first) > 10_000 and len(evidence.last) > 10_000  # Faker's Latin-script person providers
    assert {"scott", "sofia"} <= evidence.nouns and not {"grace", "guy", "will"} & evidence.nouns

    def found(text: str) -> set[str]:
        return {text[s.start : s.end] for s in known_name_spans(text, evidence)}

    # lower-case names, names with initials and particles, and names the model misses mid-sentence
    assert found("i told my neighbor debbie about it") == {"debbie"}
    assert found("we should call patricia desrosiers next week") == {"patricia desrosiers"}
    assert found("Yesterday Tamara T Stanković called me") == {"Tamara T Stanković"}
    assert found("I met Anouk van den Berg at work") == {"Anouk van den Berg"}
    assert found("It was hard to say no to Hailey.") == {"Hailey"}
    assert found("Please ask Sofia Lima to call") == {"Sofia Lima"}  # WordNet's proper nouns count as names
    assert found("I went out with Scott yesterday") == {"Scott"}
    assert found("Grace Kelly was there") == {"Grace Kelly"}  # an English first name needs a last name
    # common words, English first names alone, proper nouns as common nouns, other languages: nothing
    for text in (
        "after a long day I rest",
        "our young son cries",
        "I need grace and hope",
        "Will you come?",
        "Hunter is a good job",
        "we ate on Christmas Eve",
        "My Doc says rest",
        "The Trevor Project helps",
        "i cant go back to uni til then",
        "vice versa",
        "Es una buena idea, pero no sé",
        "Ella no puede colorear dentro de las líneas",
    ):
        assert found(text) == set(), text
    assert known_name_spans("I told Hailey", dataclasses.replace(evidence, words=frozenset())) == []  # no dictionary


def test_model_persons_that_are_common_phrases_are_dropped() -> None:
    evidence = name_evidence(DEFAULT_NER_MODEL)
    for phrase in ("Personality Disorder", "Guilty Pleasures", "Zoom", "Discipline", "COVID-19"):
        assert evidence.common_phrase(phrase), phrase
    # a listed name, a proper noun the dictionary has only as a noun, an unknown word: a name
    for phrase in ("Grace Park", "Bill Gates", "Mary-Mary", "Portland", "Garbo", "Shovda"):
        assert not evidence.common_phrase(phrase), phrase
    detector = PiiDetector(["PERSON"])
    assert detector.detect(["I have Borderline Personality Disorder."]) == [[]]
    assert [(s.start, s.end) for s in detector.detect(["Hold on, Sanger! I meet with Garbo."])[0]] == [
        (9, 15),
        (29, 34),
    ]


def test_address_and_phone_shapes() -> None:
    def found(text: str) -> set[tuple[str, str]]:
        return {(text[s.start : s.end], s.entity) for s in PiiDetector(sorted(EVAL_TYPES)).detect([text])[0]}

    # a quoted address block is one address; a house number before a street is no phone number
    assert ("935 69 Gordon Terrace\n> Suite 828\n> BASHALL TOWN\n> United Kingdom 89800", "LOCATION") in found(
        "> Mijail C Adomo\n> 935 69 Gordon Terrace\n> Suite 828\n> BASHALL TOWN\n> United Kingdom 89800"
    )
    assert found("The restaurant is at 17151 2450 Crown St") == {("17151 2450 Crown St", "LOCATION")}
    assert ("70248 31 Rue tachkent St.", "LOCATION") in found("The bus drops you off at 70248 31 Rue tachkent St.")
    assert ("(898)666-3621x0135", "PHONE_NUMBER") in found("Desk: (898)666-3621x0135")
    # a number before a title-case phrase is no address
    assert not any(e == "LOCATION" for _, e in found("Guilty Pleasures: 5 Musicians Of The 70s You Secretly Love"))


def test_name_cues_and_repairs() -> None:
    def found(text: str) -> set[tuple[str, str]]:
        return {(text[s.start : s.end], s.entity) for s in PiiDetector(["PERSON", "LOCATION"]).detect([text])[0]}

    assert ("Enrico", "PERSON") in found('Enrico shouted at Gary: "What are you doing here?"')
    assert found("I work for Datamyne") == set()  # the model's GPE after "work for" is a company
    assert ("Juliusz A Kwiatkowski", "PERSON") in found(
        "Juliusz A Kwiatkowski lives at 28919 136 Filadelfeos Str., Klirou"
    )
    assert ("Harris", "PERSON") in found("For my take on Mrs. Harris, see Guilty Pleasures")
    assert ("Quinzia", "PERSON") in found("I'd like to join accounts with ms. Quinzia")
    assert ("Florence", "PERSON") in found("I would like to remove my kid Florence from the will.")
    assert ("Mijail C Adomo", "PERSON") in found("> \n> Mijail C Adomo\n> Asc Partners\n> 935 69 Gordon Terrace")
    assert ("Asc Partners", "PERSON") not in found("> \n> Mijail C Adomo\n> Asc Partners\n> 935 69 Gordon Terrace")
    assert found("I-- Like I said, I don't really think so") == set()  # stutters are no name
    assert found("I recommend an App called Headspace") == set()  # things are called too


def test_split_half_is_deterministic_and_balanced() -> None:
    texts = [f"sentence {i}" for i in range(2000)]
    halves = [split_half(t) for t in texts]
    assert halves == [split_half(t) for t in texts] and set(halves) == {"tune", "heldout"}
    assert 900 < halves.count("heldout") < 1100
