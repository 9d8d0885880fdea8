"""What the offline model (Qwen2.5-Coder-1.5B Q4 on llama-cpp-python's server) does on this machine.

Run as a script: `python bench/local_model_bench.py [--threads N] [--questions N]` (needs the `local` extra).
Measures: model load time; prompt and generation throughput; structured output (json_schema as OpenAI spells it, and
json_object + schema as llama-cpp-python takes it); tool calls with tool_choice auto / required / named, and whether
the endpoint returns them as tool_calls or the model writes them into its text. The machine's load average is printed
with the figures: on a shared 2-core machine throughput is whatever the other processes leave.
The last line is `BENCH {json}`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Literal

import openai
from pydantic import BaseModel, SecretStr

from tasks.analyst_agent.llm import Endpoint, ModelClient, ModelError, RetryPolicy
from tasks.analyst_agent.llm.local_server import LOCAL_MODEL_NAME, LocalModelServer
from tasks.analyst_agent.llm.structured import response_format_for

SCHEMA = (
    "singer(singer_id INTEGER PK, name TEXT, country TEXT, age INTEGER)\n"
    "concert(concert_id INTEGER PK, concert_name TEXT, stadium_id INTEGER, year INTEGER)\n"
    "singer_in_concert(concert_id INTEGER FK concert, singer_id INTEGER FK singer)\n"
    "stadium(stadium_id INTEGER PK, name TEXT, location TEXT, capacity INTEGER)"
)
QUESTIONS = [
    ("How many singers do we have?", "singer"),
    ("What is the average age of singers from France?", "singer"),
    ("List the names of stadiums with a capacity above 5000.", "stadium"),
    ("How many concerts were held in 2014?", "concert"),
    ("Which country has the most singers?", "singer"),
    ("Show the name of each singer and the number of concerts they sang in.", "singer"),
]


class SqlAnswer(BaseModel):
    """One SQLite query answering the question, and the tables it reads."""

    sql: str
    tables: list[str]


class ExecuteSql(BaseModel):
    """Run one read-only SQLite query on the database and see its rows."""

    sql: str


class Done(BaseModel):
    """Give the final answer to the user."""

    answer: str


class Action(BaseModel):
    """The next step: run a query, or answer."""

    action: Literal["execute_sql", "done"]
    sql: str | None
    answer: str | None


def sql_messages(question: str) -> list[dict]:
    return [
        {"role": "system", "content": f"You write SQLite queries for this schema:\n{SCHEMA}"},
        {"role": "user", "content": question},
    ]


def tool_messages(question: str) -> list[dict]:
    return [
        {"role": "system", "content": f"You answer questions about this SQLite database:\n{SCHEMA}\nUse the tools."},
        {"role": "user", "content": question},
    ]


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--chat-format", default=None, help="llama-cpp-python chat_format (default: the GGUF's own)")
    args = parser.parse_args()
    questions = QUESTIONS[: args.questions]
    rows: list[tuple[str, str]] = []
    load_before = loadavg()

    with LocalModelServer(n_threads=args.threads, chat_format=args.chat_format) as server:
        rows.append(("model load (start -> answering)", f"{server.load_seconds:.1f} s"))
        endpoint = Endpoint(
            server.base_url, SecretStr("x"), LOCAL_MODEL_NAME, local=True, structured_output="json_object_schema"
        )
        raw = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=900)

        # prompt throughput: a fresh ~700-token prompt (a nonce defeats the prefix cache), one token out
        filler = "\n".join(f"-- note {i}: table t{i}(a INTEGER, b TEXT, c REAL)" for i in range(45))
        started = time.perf_counter()
        r = raw.chat.completions.create(
            model=LOCAL_MODEL_NAME,
            messages=[{"role": "user", "content": f"{uuid.uuid4()}\n{filler}\nSay OK."}],
            max_tokens=1,
            temperature=0,
        )
        prompt_s = time.perf_counter() - started
        prompt_tps = r.usage.prompt_tokens / prompt_s
        rows.append(("prompt processing", f"{prompt_tps:.1f} tok/s ({r.usage.prompt_tokens} tokens in {prompt_s:.1f} s)"))

        # generation throughput: a short prompt, a long answer
        started = time.perf_counter()
        r = raw.chat.completions.create(
            model=LOCAL_MODEL_NAME,
            messages=[{"role": "user", "content": f"{uuid.uuid4()} List 60 SQL keywords, comma separated."}],
            max_tokens=96,
            temperature=0,
        )
        gen_s = time.perf_counter() - started
        gen_tps = r.usage.completion_tokens / gen_s
        rows.append(("generation", f"{gen_tps:.1f} tok/s ({r.usage.completion_tokens} tokens in {gen_s:.1f} s)"))

        # structured output, OpenAI's spelling, straight to the server
        try:
            raw.chat.completions.create(
                model=LOCAL_MODEL_NAME,
                messages=sql_messages(questions[0][0]),
                response_format=response_format_for(SqlAnswer, "json_schema"),  # type: ignore[arg-type]
                max_tokens=8,
            )
            json_schema_status = "accepted"
        except openai.APIStatusError as exc:
            json_schema_status = f"refused (HTTP {exc.status_code})"
        rows.append(('response_format {"type": "json_schema"} sent as is', json_schema_status))

        # structured output through ModelClient (json_object + schema: a grammar)
        valid, right_table, seconds = 0, 0, []
        with ModelClient(endpoint, timeout=900, reasks=0, retry=RetryPolicy(max_attempts=1)) as client:
            for question, table in questions:
                started = time.perf_counter()
                try:
                    reply = client.chat(sql_messages(question), response_format=SqlAnswer, max_tokens=200, seed=7)
                except ModelError:
                    continue
                finally:
                    seconds.append(time.perf_counter() - started)
                valid += 1
                right_table += table in [t.lower() for t in reply.parsed.tables]
            struct_usage = client.usage.snapshot()
        rows.append(("structured answers valid (json_object + schema)", f"{valid}/{len(questions)}"))
        rows.append(("  ... naming the expected table", f"{right_table}/{len(questions)}"))
        rows.append(("  ... seconds per answer (mean)", f"{statistics.mean(seconds):.1f} s"))

        # a discriminated action object instead of tools (the structured-output way to drive a tool loop)
        action_ok = 0
        with ModelClient(endpoint, timeout=900, reasks=0, retry=RetryPolicy(max_attempts=1)) as client:
            for question, _ in questions[:3]:
                try:
                    reply = client.chat(tool_messages(question), response_format=Action, max_tokens=200, seed=7)
                except ModelError:
                    continue
                action_ok += reply.parsed.action == "execute_sql" and bool(reply.parsed.sql)
        rows.append(("action object {action, sql, answer} -> execute_sql", f"{action_ok}/{min(3, len(questions))}"))

        # tool calls
        tools = [
            openai.pydantic_function_tool(ExecuteSql, name="execute_sql"),
            openai.pydantic_function_tool(Done, name="done"),
        ]
        tool_results: dict[str, str] = {}
        for label, choice in (
            ("auto", "auto"),
            ("required", "required"),
            ("named", {"type": "function", "function": {"name": "execute_sql"}}),
        ):
            native = from_text = failed = 0
            with ModelClient(endpoint, timeout=900, reasks=0, retry=RetryPolicy(max_attempts=1)) as client:
                for question, _ in questions[:3]:
                    try:
                        reply = client.chat(
                            tool_messages(question), tools=tools, tool_choice=choice, max_tokens=200, seed=7
                        )
                    except ModelError as exc:
                        failed += 1
                        tool_results.setdefault(f"{label}_error", exc.code)
                        continue
                    if reply.tool_calls and reply.tool_calls_from_text:
                        from_text += 1
                    elif reply.tool_calls:
                        native += 1
            n = min(3, len(questions))
            tool_results[label] = f"{native}/{n} as tool_calls, {from_text}/{n} written in text, {failed} failed"
            rows.append((f"tool_choice={label}", tool_results[label]))

    rows.append(("load average before / after", f"{load_before} / {loadavg()}"))
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    result = {
        "load_s": round(server.load_seconds or 0, 2),
        "prompt_tok_s": round(prompt_tps, 1),
        "gen_tok_s": round(gen_tps, 1),
        "json_schema_as_is": json_schema_status,
        "structured_valid": valid / len(questions),
        "structured_s_per_answer": round(statistics.mean(seconds), 2),
        "action_object_ok": action_ok,
        "tools": tool_results,
        "threads": server.n_threads,
        "loadavg_after": loadavg(),
        "prompt_tokens_structured": struct_usage["prompt_tokens"],
    }
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()
