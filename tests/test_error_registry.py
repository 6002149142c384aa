"""Every error word the code can send is registered in byok_contracts.error_words.

The source of every package is scanned (AST, so a word in a comment does not
count): ``default_error = "..."`` in a class body and ``error="..."`` passed to
any call. An unregistered word, or one registered with another code than the
error class that carries it, fails here, so the reference never lags the code.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from byok_contracts import ByokError
from byok_contracts.error_words import (
    CLIENT_SIDE,
    COMMON,
    ERROR_WORDS,
    HTTP_ONLY,
    SUBJECT_ERRORS,
    words_for,
)
from byok_contracts.schema import OPERATIONS

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = [
    ROOT / "contracts/src",
    ROOT / "shared/src",
    ROOT / "client/src",
    *sorted((ROOT / "services").glob("*/src")),
]
GENERIC = ("key_rejected", "forbidden", "not_found", "conflict", "unprocessable")


@dataclass(frozen=True)
class Use:
    word: str
    where: str
    carrier: str | None  # class name that carries it, when known
    code: int | None  # an explicit code=... next to it


def _const_str(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


_WORD = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def _word_first(tree: ast.Module) -> set[str]:
    """Classes whose ``__init__`` takes the error word first (``Err("word", message)``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                    params = [a.arg for a in stmt.args.args[1:]]
                    if params[:1] == ["error"]:
                        found.add(node.name)
    return found


def scan(source: str, where: str, word_first: set[str] | None = None) -> Iterator[Use]:
    """Error words in one module's source.

    ``default_error = "..."`` in a class body or ``word="..."`` in its bases, ``error="..."``
    in any call, and the first positional argument of a class in ``word_first`` (its
    ``__init__(self, error, ...)``).
    """
    tree = ast.parse(source)
    word_first = (word_first or set()) | _word_first(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for keyword in node.keywords:
                word = _const_str(keyword.value) if keyword.arg == "word" else None
                if word is not None:
                    yield Use(word, f"{where}:{node.lineno}", node.name, None)
            for stmt in node.body:
                target = None
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                    target, value = stmt.targets[0], stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    target, value = stmt.target, stmt.value  # type: ignore[assignment]
                if isinstance(target, ast.Name) and target.id == "default_error":
                    word = _const_str(value)
                    if word is not None:
                        yield Use(word, f"{where}:{stmt.lineno}", node.name, None)
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            word = _const_str(kwargs.get("error"))
            if word is None and name in word_first and node.args:
                word = _const_str(node.args[0])
            if word is None:
                continue
            code_node = kwargs.get("code")
            code = code_node.value if isinstance(code_node, ast.Constant) else None
            yield Use(word, f"{where}:{node.lineno}", name, code if isinstance(code, int) else None)


def source_files() -> list[Path]:
    return [
        path
        for directory in SOURCE_DIRS
        for path in sorted(directory.rglob("*.py"))
        if "tests" not in path.parts
    ]


@functools.cache
def all_uses() -> list[Use]:
    sources = {path: path.read_text() for path in source_files()}
    word_first = set().union(*(_word_first(ast.parse(text)) for text in sources.values()))
    return [
        use
        for path, text in sources.items()
        for use in scan(text, str(path.relative_to(ROOT)), word_first)
    ]


def error_classes() -> dict[str, type[ByokError]]:
    """Every ByokError subclass of every package, by class name."""
    for directory in SOURCE_DIRS:
        for package in (p for p in directory.iterdir() if (p / "__init__.py").exists()):
            for module in pkgutil.walk_packages([str(package)], prefix=f"{package.name}."):
                if ".tests" in module.name or module.name.endswith("__main__"):
                    continue
                importlib.import_module(module.name)
    found: dict[str, type[ByokError]] = {}
    stack: list[type[ByokError]] = [ByokError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.__name__, cls)
        stack.extend(cls.__subclasses__())
    return found


def test_the_scan_finds_words() -> None:
    uses = all_uses()
    words = {u.word for u in uses}
    assert {"stale_kid", "no_key", "idempotency_conflict", "internal"} <= words
    assert len(uses) > 30


def test_every_word_in_the_code_is_registered() -> None:
    missing = sorted({f"{u.word} ({u.where})" for u in all_uses() if u.word not in ERROR_WORDS})
    assert not missing, f"register these in byok_contracts/error_words.py: {missing}"


def test_a_word_keeps_the_code_it_is_registered_with() -> None:
    classes = error_classes()
    wrong = []
    for use in all_uses():
        registered = ERROR_WORDS.get(use.word)
        if registered is None:
            continue
        cls = classes.get(use.carrier or "")
        code = use.code if use.code is not None else (cls.code if cls is not None else None)
        if code is not None and code != registered.code:
            wrong.append(f"{use.word}: {code} at {use.where}, registered {registered.code}")
    for cls in classes.values():
        registered = ERROR_WORDS.get(cls.default_error)
        assert registered is not None, f"{cls.__name__}.default_error is not registered"
        if registered.code != cls.code:
            wrong.append(f"{cls.__name__}: {cls.code} vs registered {registered.code}")
    assert not wrong, wrong


def test_every_word_the_code_sends_is_listed_for_some_subject() -> None:
    listed = set(COMMON).union(*SUBJECT_ERRORS.values())
    unlisted = sorted(
        {u.word for u in all_uses()}
        - listed
        - set(CLIENT_SIDE)
        - set(HTTP_ONLY)
        - set(GENERIC)
        - {"internal"}
    )
    assert not unlisted, f"name the subjects that answer these in SUBJECT_ERRORS: {unlisted}"


def test_every_registered_word_is_meant_for_something() -> None:
    listed = set(COMMON).union(*SUBJECT_ERRORS.values(), CLIENT_SIDE, HTTP_ONLY, GENERIC)
    assert set(ERROR_WORDS) <= listed
    for word in ERROR_WORDS.values():
        assert word.meaning.endswith((".", ")")), word.word
        assert 400 <= word.code <= 599


def test_every_request_subject_has_its_words() -> None:
    requests = {op.subject for op in OPERATIONS if op.kind == "request"}
    assert requests <= set(SUBJECT_ERRORS), sorted(requests - set(SUBJECT_ERRORS))
    assert set(SUBJECT_ERRORS) <= requests, sorted(set(SUBJECT_ERRORS) - requests)
    for subject in SUBJECT_ERRORS:
        assert set(words_for(subject)) <= set(ERROR_WORDS), subject


@pytest.mark.parametrize(
    "source",
    [
        'raise Conflict("x", error="made_up_word")',
        'class Made(NotFound):\n    default_error = "made_up_word"\n',
        'ErrorReply(code=409, error="made_up_word", message="m")',
        "class Bound(ValueError):\n    def __init__(self, error: str, message: str) -> None: ...\n"
        'raise Bound("made_up_word", "message")',
    ],
)
def test_the_scan_catches_an_unregistered_word(source: str) -> None:
    uses = list(scan(source, "example.py"))
    assert [u.word for u in uses] == ["made_up_word"]
    assert "made_up_word" not in ERROR_WORDS


_TS_ERROR = re.compile(r'new ByokError\(\s*(\d{3}),\s*"([a-z_]+)"')


def test_the_typescript_client_raises_only_registered_words() -> None:
    sources = sorted((ROOT / "clients" / "typescript" / "src").glob("*.ts"))
    found = [m.groups() for path in sources for m in _TS_ERROR.finditer(path.read_text())]
    assert {word for _, word in found} >= {"no_responders", "payload_too_large"}
    for code, word in found:
        assert word in ERROR_WORDS, f"register {word} (clients/typescript)"
        assert ERROR_WORDS[word].code == int(code), word
        assert word in CLIENT_SIDE, f"{word}: the client raises it, so it is client side"
