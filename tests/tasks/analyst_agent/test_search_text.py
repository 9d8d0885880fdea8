"""Words out of identifiers and questions: the form every lexical signal compares."""

from __future__ import annotations

import pytest

from tasks.analyst_agent.search.text import (
    humanize,
    identifier_terms,
    question_terms,
    split_identifier,
    stem,
)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("order_items", ["order", "items"]),
        ("orderItems", ["order", "items"]),
        ("OrderItems", ["order", "items"]),
        ("HTTPStatusCode", ["http", "status", "code"]),
        ("customerID", ["customer", "id"]),
        ("address2", ["address", "2"]),
        ("car_1", ["car", "1"]),
        ("Num_of_Staff", ["num", "of", "staff"]),
        ("__weird--name__", ["weird", "name"]),
        ("", []),
    ],
)
def test_split_identifier_handles_snake_camel_acronyms_and_digits(name: str, words: list[str]) -> None:
    assert split_identifier(name) == words


def test_plurals_and_verb_forms_meet_on_one_stem() -> None:
    assert stem("employees") == stem("employee")
    assert stem("countries") == stem("country")
    assert stem("hired") == stem("hiring") == stem("hire")
    assert stem("singers") != stem("songs")


def test_identifier_terms_add_the_long_form_of_abbreviations() -> None:
    terms = identifier_terms("Num_of_Staff")
    assert stem("number") in terms and stem("num") in terms and stem("staff") in terms
    assert stem("department") in identifier_terms("DeptId")


def test_question_terms_drop_request_words_and_keep_content_once() -> None:
    terms = question_terms("Show me the names of all singers, and list the singers' ages!")
    assert terms == [stem("names"), stem("singers"), stem("ages")]
    assert question_terms("What is the number of the?") == []


def test_humanize_reads_an_identifier_as_words() -> None:
    assert humanize("annualSalary_USD") == "annual salary usd"
