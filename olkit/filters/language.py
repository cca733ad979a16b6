"""Offline language identification: writing system + function-word profiles + diacritics.

No model download.  Two kinds of evidence, both counted with polars over the whole batch:

* **Script**: letters per Unicode script (Han, Hiragana/Katakana, Hangul, Cyrillic, Greek, Arabic,
  Hebrew, Devanagari, Thai vs Latin).  A text whose letters are mostly non-Latin is in that script's
  language family.
* **Latin-script languages**: occurrences of each language's *function words* (articles,
  prepositions, pronouns, auxiliaries -- the words every sentence needs, written out below from
  general linguistic knowledge, minus anything that is also an English word or a common code
  token) and words with diacritics (reported as ``other`` when no profile matches).  English has its own function-word profile; a text is
  another language only when that language's evidence clearly outweighs English.

Identifiers, code and URLs contain almost no function words of any language, so English code-ish
documents are never flagged ("undetermined" is accepted); that is the point of requiring positive
evidence (``min_evidence``) instead of a lack of English.

Example
-------
>>> import polars as pl
>>> from olkit.filters.language import detect
>>> detect(pl.Series(["The file could not be opened because it is locked.",
...                   "No se pudo abrir el archivo porque está bloqueado por otro proceso.",
...                   "ファイルを開けませんでした", "os.path.join(root, name)"]))["lang"].to_list()
['en', 'es', 'ja', 'und']
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from olkit.filters.base import Filter, main_text, rule_decisions, with_content_columns
from olkit.filters.config import FilterPolicy

#: English function words.
ENGLISH = """the a an and or but of to in on at by for with from as is are was were be been being it its
this that these those which who whom whose what when where why how not no can could will would shall
should may might must do does did has have had i you he she we they them their there here than then so
if else into onto about over under between through during before after above below up down out off
again further once all any both each few more most other some such only own same too very just""".split()

#: Function words of other Latin-script languages (ISO 639-1 -> words).
_PROFILES: dict[str, str] = {
    "es": """el la los las un una unos unas y o pero que de del al en con por para sin sobre entre
        hasta desde durante es son está están estaba fue ser estar ha han había hay se su sus lo le les
        este esta estos estas ese esa eso esto aquel cual cuál cuando donde dónde como cómo muy más
        también ya no sí porque aunque si pueden puede tiene tienen debe hacer nuevo archivo usar
        nosotros ellos ella él usted ustedes qué quién todos todo otra otro cada""",
    "pt": """o a os as um uma uns umas e ou mas que de do da dos das em no na nos nas com por para
        sem sobre entre até desde é são está estão foi ser estar há tem têm não sim se seu sua seus
        suas este esta estes estas esse essa isso isto aquele qual quando onde como muito mais também
        já porque embora pode podem deve fazer novo arquivo usar você vocês ele ela eles elas todos
        todo outra outro cada pelo pela ao aos""",
    "fr": """le la les un une des et ou mais que qui de du au aux en dans avec pour par sans sur sous
        entre depuis pendant est sont était été être avoir a ont il elle ils elles nous vous je tu ce
        cette ces cet son sa ses leur leurs lui quand où comme très plus aussi déjà ne pas oui si
        parce peut peuvent doit faire nouveau fichier utiliser tous tout toute autre chaque ça votre
        vos notre nos impossible""",
    "it": """il lo la gli le un una uno e o ma che di del della dei degli delle da dal dalla in nel
        nella con per su tra fra senza è sono era stato essere avere ha hanno non sì se suo sua suoi
        questo questa questi queste quello quella quale quando dove come molto più anche già perché
        può possono deve fare nuovo file usare noi voi loro lui lei tutti tutto altro altra ogni
        impossibile""",
    "de": """der die das den dem des ein eine einer einem einen eines und oder aber dass von zu im
        mit für auf aus bei nach über unter zwischen ohne durch ist sind war waren sein haben hat
        wird werden wurde nicht kein keine ja wenn dieser diese dieses jeder jede welche wann wo wie
        sehr mehr auch schon weil kann können muss soll neue datei verwenden wir ihr sie ich er es
        alle alles andere nur noch bitte""",
    "nl": """de het een en of maar dat die van te in op met voor naar uit bij door over onder tussen
        zonder is zijn was waren worden wordt werd heeft hebben niet geen ja als deze dit welke wanneer
        waar hoe zeer meer ook al omdat kan kunnen moet zal nieuwe bestand gebruiken wij jullie zij
        ik hij alle alles andere niet kon""",
    "sv": """och eller men att som av till på med för från ur vid efter över under mellan utan är
        var varit vara har hade blir blev inte ingen ja om denna detta dessa vilken när där hur
        mycket mer också redan eftersom kan kunde måste ska skall ny fil använda vi ni de jag han hon
        den det alla allt andra kunde inte""",
    "da": """og eller men at som af til på med for fra ud ved efter over under mellem uden er var
        været være har havde bliver blev ikke ingen ja hvis denne dette disse hvilken når hvor hvordan
        meget mere også allerede fordi kan kunne skal ny fil bruge vi jer jeg han hun den det alle
        alt andre""",
    "no": """og eller men at som av til på med for fra ut ved etter over under mellom uten er var
        vært være har hadde blir ble ikke ingen ja hvis denne dette disse hvilken når hvor hvordan
        mye mer også allerede fordi kan kunne skal ny fil bruke vi dere jeg han hun den det alle alt
        andre""",
    "pl": """i w na z do że nie się jest są był była było być ma mają to ten ta te tego tej który
        która które jak gdy gdzie dla przez po przy od bez pod nad między oraz lub ale czy jeśli
        tylko już bardzo więcej także może można musi nowy plik użyć my wy oni ja on ona wszystkie
        inne każdy nie można""",
    "cs": """a v na s z do že ne se je jsou byl byla bylo být má mají to ten ta ty toho který která
        které jak když kde pro přes po při od bez pod nad mezi nebo ale zda pokud jen již velmi více
        také může lze musí nový soubor použít my vy oni já on ona všechny jiné každý nelze""",
    "tr": """ve veya ama ile için bir bu şu o da de mi mu değil var yok olarak olan oldu olur daha
        çok en gibi kadar sonra önce ancak eğer ise her şey ne nasıl neden nerede dosya kullan yeni
        bulunamadı biz siz onlar ben sen""",
    "vi": """và hoặc nhưng của là các những một có không được cho này đó với trong khi để từ đến
        theo như thì đã sẽ đang bị tệp tập tin người dùng chúng tôi bạn họ nó cũng rất nhiều hơn nếu
        vì sao thế nào đâu mới hãy phải""",
    "ro": """și sau dar că care de la în pe cu pentru prin fără despre între este sunt era fost fi
        are au nu da dacă acest această aceste acel când unde cum foarte mai și deja pentru poate pot
        trebuie nou fișier folosi noi voi ei eu el ea toate alte fiecare""",
    "fi": """ja tai mutta että joka on ovat oli olla ei kyllä jos tämä tuo nämä mikä kun missä miten
        hyvin enemmän myös jo koska voi voida täytyy uusi tiedosto käyttää me te he minä hän se
        kaikki muut jokainen""",
    "hu": """és vagy de hogy ami aki a az egy nem igen ha ez azt ezt mint van vannak volt lesz lehet
        kell új fájl használ mi ti ők én ő minden más nagyon több már mert is""",
    "id": """dan atau tetapi bahwa yang di ke dari dengan untuk pada dalam tanpa tentang antara
        adalah ini itu tidak ya jika ketika dimana bagaimana sangat lebih juga sudah karena dapat bisa
        harus baru berkas gunakan kami kita mereka saya dia semua lain setiap""",
}
#: Words that must never count as foreign evidence: English words and frequent code tokens.
_NEVER_FOREIGN = set(ENGLISH) | set(
    """in an on at as is it be do go he me we so no us if or of to by up my oh ok hi die den man hat war
    also will was over under fin par per con pro come far dove data via son plus gift bald hand kind
    list set get put key map len min max sum str int abs all any file new null none true false self
    le ge lt gt eq ne os re io se ha har var vi er one two art sale pan tan top
    mit see sea vs pi ma mo ni ny na ta te to mi ti sa si sin cos tan log exp pop push""".split())
PROFILES: dict[str, frozenset[str]] = {
    lang: frozenset(w for w in words.split() if w not in _NEVER_FOREIGN) for lang, words in _PROFILES.items()
}

#: Non-Latin scripts -> reported language code (script families).
SCRIPTS: dict[str, str] = {
    "Hiragana": "ja", "Katakana": "ja", "Han": "zh", "Hangul": "ko", "Cyrillic": "ru",
    "Greek": "el", "Arabic": "ar", "Hebrew": "he", "Devanagari": "hi", "Thai": "th",
    "Armenian": "hy", "Georgian": "ka", "Bengali": "bn", "Tamil": "ta",
}
_LATIN_DIACRITIC_WORD = r"\p{L}*[À-ÖØ-öø-ɏḀ-ỿ]\p{L}*"
#: Scripts where one character is about a word's worth of letters (weighted x3 against Latin letters).
_DENSE = {"Han", "Hiragana", "Katakana", "Hangul"}
_WORD = r"[\p{L}’']+"


def _word_table() -> pl.DataFrame:
    rows = [(w, "en") for w in ENGLISH] + [(w, lang) for lang, ws in PROFILES.items() for w in ws]
    return pl.DataFrame(rows, schema={"w": pl.String, "lang": pl.String}, orient="row")


_WORDS = _word_table()


def _signals(texts: pl.Series) -> pl.DataFrame:
    """Per text: letters by script, English hits, best foreign profile and its hits, diacritics."""
    base = pl.DataFrame({"t": texts.fill_null("").cast(pl.String)}).with_row_index("d")
    t = pl.col("t")
    script_counts = [t.str.count_matches(rf"\p{{{s}}}").alias(f"s_{s}") for s in SCRIPTS]
    rows = base.select(
        "d", t.str.count_matches(r"\p{Latin}").alias("latin"),
        t.str.count_matches(_LATIN_DIACRITIC_WORD).alias("diacritics"), *script_counts)
    toks = (base.select("d", t.str.slice(0, 20_000).str.to_lowercase().str.extract_all(_WORD).alias("w"))
            .explode("w").drop_nulls("w").join(_WORDS, on="w", how="inner")
            .group_by("d", "lang").len())
    en = toks.filter(pl.col("lang") == "en").select("d", pl.col("len").alias("en_hits"))
    other = (toks.filter(pl.col("lang") != "en").sort(["d", "len", "lang"], descending=[False, True, False])
             .group_by("d", maintain_order=True).first()
             .select("d", pl.col("lang").alias("best"), pl.col("len").alias("best_hits")))
    out = rows.join(en, on="d", how="left").join(other, on="d", how="left").sort("d")
    script_cols = [f"s_{s}" for s in SCRIPTS]
    # Japanese text mixes Han with kana: any kana makes it Japanese
    kana = pl.col("s_Hiragana") + pl.col("s_Katakana")
    nonlatin = pl.sum_horizontal([pl.col(c) * (3 if c[2:] in _DENSE else 1) for c in script_cols])
    top_script = (pl.concat_list([pl.struct(pl.lit(SCRIPTS[s]).alias("l"), pl.col(f"s_{s}").alias("n"))
                                  for s in SCRIPTS])
                  .list.eval(pl.element().sort_by(pl.element().struct.field("n"), descending=True).first())
                  .list.first().struct.field("l"))
    return out.with_columns(pl.col("en_hits", "best_hits").fill_null(0)).select(
        "d", "latin", "diacritics", "en_hits", "best", "best_hits",
        nonlatin.alias("nonlatin"),
        pl.when(kana > 0).then(pl.lit("ja")).otherwise(top_script).alias("script_lang"),
    )


def detect(texts: pl.Series) -> pl.DataFrame:
    """``lang`` (ISO 639-1 or ``und``), ``confidence`` (0..1), ``evidence`` and raw counts per text."""
    s = _signals(texts)
    letters = pl.col("latin") + pl.col("nonlatin")
    foreign = (pl.col("best_hits") + pl.col("diacritics")).cast(pl.Float64)
    latin_conf = foreign / (foreign + pl.col("en_hits").cast(pl.Float64)).clip(lower_bound=1e-9)
    nonlatin_share = pl.col("nonlatin").cast(pl.Float64) / letters.cast(pl.Float64).clip(lower_bound=1.0)
    is_script = nonlatin_share > 0.5
    return s.with_columns(
        pl.when(is_script).then(pl.col("script_lang"))
        .when((pl.col("best_hits") > 0) & (latin_conf > 0.5)).then(pl.col("best"))
        .when(latin_conf > 0.5).then(pl.lit("other"))
        .when(pl.col("en_hits") > 0).then(pl.lit("en"))
        .otherwise(pl.lit("und")).alias("lang"),
        pl.when(is_script).then(nonlatin_share)
        .when(foreign > 0).then(pl.max_horizontal(latin_conf, 1 - latin_conf))
        .when(pl.col("en_hits") > 0).then(pl.lit(1.0)).otherwise(pl.lit(0.0)).alias("confidence"),
        pl.when(is_script).then(pl.col("nonlatin").cast(pl.Float64))
        .otherwise(pl.max_horizontal(foreign, pl.col("en_hits").cast(pl.Float64))).alias("evidence"),
        pl.when(is_script).then(pl.col("nonlatin").cast(pl.Float64)).otherwise(foreign).alias("foreign_evidence"),
    ).drop("d")


class LanguageFilter(Filter):
    """Rejects items confidently identified as a language outside ``policy.language.allowed``."""

    name: ClassVar[str] = "language"
    layer: ClassVar[str] = "heuristics"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        # the contributed answer (or document) is what must be in an allowed language
        texts = batch.select(main_text().alias("t"))["t"]
        d = detect(texts)
        return pl.DataFrame({
            "submission_id": batch["submission_id"],
            "language.lang": d["lang"],
            "language.confidence": d["confidence"].cast(pl.Float64),
            "language.foreign_evidence": d["foreign_evidence"].cast(pl.Float64),
            "language.en_hits": d["en_hits"].cast(pl.Int64),
        })

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.language
        c = pl.col
        foreign = (~c("language.lang").is_in(list(p.allowed)) & (c("language.lang") != "und")
                   & (c("language.confidence") >= p.min_confidence)
                   & (c("language.foreign_evidence") >= p.min_evidence))
        score = pl.when(c("language.lang").is_in(list(p.allowed))).then(1 - c("language.confidence")) \
            .otherwise(c("language.confidence"))
        return rule_decisions(scores, [("language.other_language", foreign)], score, enabled=p.enabled)
