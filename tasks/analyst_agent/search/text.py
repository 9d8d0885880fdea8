"""Words out of identifiers and questions, in one shared form so that "Num_of_Staff", "numOfStaff" and
"number of staff members" meet on the same terms.

Identifiers are split at underscores, punctuation, camelCase and letter/digit boundaries ("HTTPStatusCode" -> http
status code, "address2" -> address 2). Every word is lowercased and stemmed with Snowball's English stemmer, which
folds plurals and verb forms ("employees"/"employee", "hired"/"hiring"/"hire"). Abbreviations common in column names
("num", "qty", "dept") also index their long form, so a question never has to guess the abbreviation.
Question words that only shape the request ("show", "list", "how many") are dropped; catalog words never are, since a
table may well be called `list`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_LETTER_DIGIT = re.compile(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

#: short forms seen in column names -> the word a question uses (both are indexed)
ABBREVIATIONS: dict[str, str] = {
    "num": "number",
    "no": "number",
    "nbr": "number",
    "qty": "quantity",
    "amt": "amount",
    "dept": "department",
    "emp": "employee",
    "addr": "address",
    "desc": "description",
    "descr": "description",
    "dob": "birth",
    "yr": "year",
    "mgr": "manager",
    "cust": "customer",
    "prod": "product",
    "acct": "account",
    "org": "organization",
    "pct": "percent",
    "avg": "average",
    "cnt": "count",
    "dt": "date",
    "ts": "timestamp",
    "tel": "phone",
    "fname": "first",
    "lname": "last",
    "stu": "student",
    "ref": "reference",
    "cat": "category",
    "loc": "location",
    "info": "information",
}

#: words that shape a question but never name data; dropped from questions only
QUESTION_STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be been before being below between both but by can
    could did do does doing done during each either else ever every few for from further get gets give given had has
    have having he her here hers him his how i if in into is it its itself just list lists listed me more most my
    neither no nor not of off on once only or other our out over own per please return returns same she should show
    shown so some such tell than that the their theirs them then there these they this those through to too under
    until up us very was we were what whatever when where whether which while who whom whose why will with within
    without would yet you your find display provide sorted order ordered descending ascending alphabetical
    alphabetically respectively also count many much number
    """.split()
)

_stemmer = snowballstemmer.stemmer("english")


def split_identifier(name: str) -> list[str]:
    """Lowercase words of an identifier: snake_case, camelCase, acronyms and digits split apart."""
    spaced = _CAMEL_ACRONYM.sub(r"\1 \2", name)
    spaced = _CAMEL_LOWER_UPPER.sub(r"\1 \2", spaced)
    spaced = _LETTER_DIGIT.sub(lambda m: " ".join(g for g in m.groups() if g), spaced)
    return [w.lower() for w in _WORD.findall(spaced)]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of a lowercase word (cached: catalogs repeat a few thousand words)."""
    return _stemmer.stemWord(word)


def identifier_terms(name: str) -> list[str]:
    """Stemmed terms of a catalog identifier, with the long form of each known abbreviation added."""
    return list(_identifier_terms(name))


@lru_cache(maxsize=200_000)  # catalogs repeat column names (id, name, created_at) across thousands of tables
def _identifier_terms(name: str) -> tuple[str, ...]:
    terms: list[str] = []
    for word in split_identifier(name):
        terms.append(stem(word))
        long_form = ABBREVIATIONS.get(word)
        if long_form and long_form != word:
            terms.append(stem(long_form))
    return tuple(terms)


def text_terms(text: str) -> list[str]:
    """Stemmed terms of free catalog text (comments, view definitions, values): identifiers inside are split too."""
    terms: list[str] = []
    for token in _WORD.findall(text):
        terms.extend(identifier_terms(token))
    return terms


def question_terms(question: str) -> list[str]:
    """Stemmed content terms of a question, request words dropped, each term once in order of appearance."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(question):
        for word in split_identifier(token):
            if word in QUESTION_STOPWORDS or (len(word) == 1 and not word.isdigit()):
                continue
            seen.setdefault(stem(word), None)
    return list(seen)


def humanize(name: str) -> str:
    """An identifier as plain words ("Num_of_Staff" -> "num of staff"), for embedding and display."""
    return " ".join(split_identifier(name))
