"""Where each table and key of a TOML document is written, so that an error can name its line.

``tomllib`` gives values, not positions. This reads the text line by line the way TOML lays it out:
``[table]`` and ``[[array of tables]]`` headers (each element of an array numbered from 0, as
``fault[2]``), and ``key = value`` lines under them, with dotted keys, strings that hold brackets
or ``#``, and multi-line arrays and strings skipped over. Keys inside an inline table are found at
the line of the key that holds the table: an inline table is one line in TOML 1.0.
"""

from __future__ import annotations


def key_lines(text: str) -> dict[str, int]:
    """Each dotted path (``mission.rate``, ``fault[2].kind``) to its 1-based line."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}  # an array of tables' path to the index of its last element
    table = ""
    depth = 0  # open brackets and braces of a value that goes on to the next line
    closing: str | None = None  # the delimiter of a multi-line string we are inside
    for number, line in enumerate(text.splitlines(), start=1):
        if closing is not None:
            if closing in line:
                closing = None
            continue
        if depth:
            depth, closing = _scan(line, depth)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            keys = _split(stripped[2:stripped.find("]]")])
            parent = _resolve(keys[:-1], arrays)  # the array itself is not at an element: a new one starts
            name = f"{parent}.{keys[-1]}" if parent else keys[-1]
            arrays[name] = arrays.get(name, -1) + 1
            table = f"{name}[{arrays[name]}]"
            lines.setdefault(table, number)
            lines.setdefault(name, number)
        elif stripped.startswith("["):
            table = _resolve(_split(stripped[1:stripped.find("]")]), arrays)
            lines.setdefault(table, number)
        else:
            key, sep, value = _key_and_value(stripped)
            if not sep:
                continue
            path = ".".join(filter(None, (table, *_split(key))))
            lines.setdefault(path, number)
            depth, closing = _scan(value, 0)
    return lines


def locate(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path``, or of the nearest enclosing table or key that is written down."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-len(path.rsplit("[", 1)[1]) - 1] if path.endswith("]") else path.rpartition(".")[0]
    return None


def _split(dotted: str) -> list[str]:
    """``a."b.c".d`` as its keys."""
    keys, current, quote = [], "", ""
    for char in dotted.strip():
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            keys.append(current.strip())
            current = ""
        else:
            current += char
    keys.append(current.strip())
    return keys


def _resolve(keys: list[str], arrays: dict[str, int]) -> str:
    """A header's keys as a path, each array of tables on the way at its current element."""
    path = ""
    for key in keys:
        path = f"{path}.{key}" if path else key
        if path in arrays:
            path = f"{path}[{arrays[path]}]"
    return path


def _key_and_value(line: str) -> tuple[str, str, str]:
    """``key = value`` split at the first ``=`` outside a quoted key."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "=":
            return line[:i], "=", line[i + 1:]
    return line, "", ""


def _scan(value: str, depth: int) -> tuple[int, str | None]:
    """The bracket depth after ``value``, and the delimiter of a multi-line string it leaves open."""
    i = 0
    while i < len(value):
        for triple in ('"""', "'''"):
            if value.startswith(triple, i):
                end = value.find(triple, i + 3)
                if end < 0:
                    return depth, triple
                i = end + 3
                break
        else:
            char = value[i]
            if char == "#":
                break
            if char in "\"'":
                end = i + 1
                while end < len(value) and value[end] != char:
                    end += 2 if char == '"' and value[end] == "\\" else 1
                i = end
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            i += 1
    return depth, None
