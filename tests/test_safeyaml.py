"""gpufleet/safeyaml.py at its edges: each bound holds at its limit and refuses one past it, and
every refusal points at the line of the value it refuses (what a user fixing a spec needs), not
at the document's start or nowhere. tests/test_inputs.py checks the same bounds through the
command line."""

from __future__ import annotations

import pytest
import yaml

from gpufleet import safeyaml
from gpufleet.safeyaml import MAX_DEPTH, MAX_DIGITS, MAX_NODES


def _refusal(text: str) -> yaml.MarkedYAMLError:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        safeyaml.load(text)
    return caught.value


def _line(error: yaml.MarkedYAMLError) -> int:
    """The 1-based line the refusal points at."""
    assert error.problem_mark is not None, str(error)
    return error.problem_mark.line + 1


def _nested(values: int) -> str:
    """A value `values` nodes deep: lists inside lists around one scalar."""
    return "[" * (values - 1) + "1" + "]" * (values - 1)


def test_a_value_max_depth_nodes_deep_loads_and_one_deeper_is_refused_on_its_line() -> None:
    assert safeyaml.load(_nested(MAX_DEPTH)) is not None
    error = _refusal(f"name: fleet\nprices:\n  deep: {_nested(MAX_DEPTH + 1)}\n")
    assert f"nested more than {MAX_DEPTH} levels deep" in str(error)
    assert _line(error) == 3


def test_depth_is_counted_per_branch_not_over_the_document() -> None:
    """Deep siblings one after another each get the whole depth; a deep sibling never lends
    depth to the next one either."""
    siblings = "\n".join(f"k{i}: {_nested(MAX_DEPTH - 1)}" for i in range(5))
    assert len(safeyaml.load(siblings)) == 5
    error = _refusal(f"{siblings}\ntoo_deep: {_nested(MAX_DEPTH)}\n")
    assert _line(error) == 6
    leading = "[1, " * MAX_DEPTH + "1" + "]" * MAX_DEPTH  # a value before each deeper level
    assert "levels deep" in str(_refusal(leading))


def test_an_integer_of_max_digits_loads_and_one_more_digit_is_refused_on_its_line() -> None:
    assert safeyaml.load(f"n: {'9' * MAX_DIGITS}") == {"n": int("9" * MAX_DIGITS)}
    error = _refusal(f"a: 1\nn: {'9' * (MAX_DIGITS + 1)}\n")
    assert f"an integer of {MAX_DIGITS + 1:,} digits (at most {MAX_DIGITS})" in str(error)
    assert _line(error) == 2


def _expanding_to(values: int) -> str:
    """A list whose aliases expand it to exactly `values` values (the list itself, a shared list
    of 999 ones counted once per use, and single ones to make up the rest)."""
    shared, uses = 999, 198  # the anchor and 198 aliases: 199 × 1,000 values
    ones = values - 1 - (uses + 1) * (shared + 1)
    assert ones >= 0
    return "\n".join(["- &a [" + ", ".join(["1"] * shared) + "]", *["- *a"] * uses, *["- 1"] * ones])


def test_aliases_expanding_to_max_nodes_load_and_one_value_more_is_refused() -> None:
    assert len(safeyaml.load(_expanding_to(MAX_NODES))) == 1 + 198 + (MAX_NODES - 1 - 199_000)
    error = _refusal(_expanding_to(MAX_NODES + 1))
    assert f"more than {MAX_NODES:,} values once its aliases are expanded" in str(error)
    assert "(a nest of aliases that multiplies the document)" in str(error)
    assert _line(error) == 1  # the list they multiply


def test_a_billion_laughs_is_refused_before_anything_is_built() -> None:
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 9)}]")
    error = _refusal("\n".join(laughs))
    assert "values once its aliases are expanded" in str(error)


def test_a_duplicate_key_names_both_lines_and_is_refused_after_a_merge_key() -> None:
    error = _refusal("base: &b {x: 1}\nfleet:\n  <<: *b\n  name: a\n  gpus: 8\n  name: b\n")
    assert "key 'name' is given twice (lines 4 and 6)" in str(error)
    assert "while reading a mapping (line 4)" in str(error)
    assert "line 3, column 3" in str(error)  # where that mapping starts
    assert _line(error) == 6
    long = "k" * 70
    error = _refusal(f"{long}: 1\n{long}: 2\n")
    assert f"key {'k' * 60!r} is given twice" in str(error)


def test_two_merge_keys_load_and_equal_complex_keys_are_a_yaml_error_not_a_crash() -> None:
    assert safeyaml.load("a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n")["c"] == {"x": 1, "y": 2}
    error = _refusal("? [1, 2]\n: one\n? [1, 2]\n: two\n")
    assert _line(error) in (1, 3)


def test_a_value_python_cannot_build_is_refused_on_its_line() -> None:
    error = _refusal("name: fleet\nstart: 2026-13-01\n")
    assert "cannot read the value" in str(error)
    assert _line(error) == 2


def test_an_alias_inside_itself_is_refused_on_its_line() -> None:
    error = _refusal("name: fleet\nloop: &x [1, *x]\n")
    assert _line(error) >= 2
