"""Runs docs/api.md with the real grpcurl and checks every answer against the doc.

Every ```sh block holding a `grpcurl` command is run as written, in document order, against a sandbox
fundingd (only the address is replaced), and its output is compared with the block that follows it:
a ```json block is the answer (the first N messages of a stream when it holds N JSON values); a
```text block is grpcurl's error output (`ERROR:`, `Code:`, `Message:` and the `google.rpc` details,
which grpcurl decodes through the server's reflection).

How a documented answer is compared with the real one (as tests/tests/docs.rs does it through
descriptors):
- the same field names on both sides, at every level, and equal concrete values;
- `"<name>"` matches any non-empty value; the first time a name is seen it is bound to that value,
  later requests get `<name>` substituted, and later answers showing `"<name>"` must show the same
  value. `"<timestamp>"` matches any non-empty value and never binds;
- Get and List examples (reads) are asked again for up to ten seconds until they match.

Usage: api_doc.py --grpcurl BIN --address HOST:PORT --doc docs/api.md. Exit status 0 when every
example answered as documented; otherwise the first mismatch, with grpcurl's real output.
"""

import argparse
import json
import os
import re
import selectors
import shlex
import subprocess
import sys
import time

DOC_ADDRESS = "localhost:50051"
WILDCARDS = {"timestamp"}
READ_RETRY_SECONDS = 10.0
CALL_SECONDS = 20.0


class Mismatch(Exception):
    """A real answer that is not the documented one."""


def fenced_blocks(text):
    """(line, info, body) of every fenced block."""
    blocks, current = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if current is None:
            if stripped.startswith("```"):
                current = (number, stripped[3:].strip(), [])
        elif stripped.startswith("```"):
            blocks.append((current[0], current[1], "\n".join(current[2]) + "\n"))
            current = None
        else:
            current[2].append(line)
    if current is not None:
        raise SystemExit(f"docs/api.md:{current[0]}: an unclosed fenced block")
    return blocks


def examples(text):
    """Every grpcurl example: (line, argv, documented answer or error)."""
    blocks = fenced_blocks(text)
    found = []
    index = 0
    while index < len(blocks):
        line, info, body = blocks[index]
        index += 1
        if info != "sh" or "grpcurl" not in body:
            continue
        command = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("#"))
        argv = shlex.split(command.replace("\\\n", " "))
        if not argv or argv[0] != "grpcurl" or DOC_ADDRESS not in argv:
            raise SystemExit(f"docs/api.md:{line}: one `grpcurl … {DOC_ADDRESS} …` per block")
        if index >= len(blocks) or blocks[index][1] not in ("json", "text"):
            raise SystemExit(f"docs/api.md:{line}: no ```json answer or ```text error after it")
        _, kind, answer = blocks[index]
        index += 1
        if kind == "json":
            decoded = list(json_values(answer))
            if not decoded:
                raise SystemExit(f"docs/api.md:{line}: an empty answer")
            found.append((line, argv, decoded, None))
        else:
            found.append((line, argv, None, parse_status(answer)))
    return found


def json_values(text):
    """The JSON values written one after another in `text`."""
    decoder, position = json.JSONDecoder(), 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def parse_status(text):
    """grpcurl's error output: {"code", "message", "details": [JSON of each detail]}."""
    code = message = None
    details, in_details = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if not in_details and stripped.startswith("Code:"):
            code = stripped[len("Code:"):].strip()
        elif not in_details and stripped.startswith("Message:"):
            message = stripped[len("Message:"):].strip()
        elif stripped == "Details:":
            in_details = True
        elif in_details and stripped:
            start = re.match(r"^\d+\)\s*(.*)$", stripped)
            if start:
                details.append(start.group(1))
            elif details:
                details[-1] += "\n" + stripped
    if code is None:
        raise Mismatch(f"not an error from grpcurl:\n{text}")
    return {"code": code, "message": message or "", "details": [json.loads(d) for d in details]}


def placeholder(value):
    if isinstance(value, str) and len(value) > 2 and value[0] == "<" and value[-1] == ">":
        return value[1:-1]
    return None


def is_empty(value):
    return value is None or value == "" or value == [] or value == {}


def as_text(value):
    return value if isinstance(value, str) else json.dumps(value)


def matches(path, doc, actual, bound, bind):
    """Raises Mismatch naming the path where `actual` is not `doc`; new bindings go to `bind`."""
    name = placeholder(doc)
    if name is not None:
        if is_empty(actual):
            raise Mismatch(f"{path}: documented as <{name}>, got {actual!r}")
        if name in WILDCARDS:
            return
        known = bound.get(name, bind.get(name))
        if known is None:
            bind[name] = as_text(actual)
        elif known != as_text(actual):
            raise Mismatch(f"{path}: <{name}> was {known}, now {as_text(actual)}")
    elif isinstance(doc, dict) and isinstance(actual, dict):
        if set(doc) != set(actual):
            raise Mismatch(f"{path}: fields documented {sorted(doc)}, answered {sorted(actual)}")
        for key, value in doc.items():
            matches(f"{path}.{key}", value, actual[key], bound, bind)
    elif isinstance(doc, list) and isinstance(actual, list):
        if len(doc) != len(actual):
            raise Mismatch(f"{path}: {len(doc)} elements documented, {len(actual)} answered")
        for i, (d, a) in enumerate(zip(doc, actual)):
            matches(f"{path}[{i}]", d, a, bound, bind)
    elif doc != actual:
        raise Mismatch(f"{path}: documented {doc!r}, answered {actual!r}")


def substitute(word, bound, line):
    def value(match):
        name = match.group(1)
        if name not in bound:
            raise SystemExit(f"docs/api.md:{line}: <{name}> is not known from an earlier answer")
        return bound[name]

    return re.sub(r"<([A-Za-z0-9_]+)>", value, word)


def run(argv, count):
    """Runs grpcurl; (exit status, the first `count` JSON messages printed, stderr)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, messages = b"", []
    deadline = time.monotonic() + CALL_SECONDS
    # A stream stays open: read messages until `count` came (or the time is up), then stop grpcurl.
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(messages) < count and time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            try:
                messages = list(json_values(out.decode()))
            except ValueError:
                pass  # a message not complete yet
    try:
        process.wait(timeout=1)  # a unary call ends by itself
    except subprocess.TimeoutExpired:
        process.terminate()  # a stream stays open
    try:
        _, err = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, messages[:count], err.decode(errors="replace")


def check(line, argv, answer, error, bound):
    """Runs one example (reads again until they match); (its new bindings, the real error or None)."""
    method = argv[-1]
    is_read = method.rsplit("/", 1)[-1].startswith(("Get", "List"))
    deadline = time.monotonic() + (READ_RETRY_SECONDS if is_read else 0)
    while True:
        status, messages, err = run(argv, len(answer) if answer else 1)
        bind = {}
        try:
            if error is not None:
                if status == 0:
                    raise Mismatch(f"documented an error, answered {messages}")
                real = parse_status(err)
                doc = dict(error, message=substitute(error["message"], bound, line))
                matches("", doc, real, bound, bind)
                return bind, real
            else:
                if len(messages) < len(answer):
                    raise Mismatch(f"{len(answer)} messages documented, {len(messages)} answered")
                matches("", answer, messages, bound, bind)
                return bind, None
        except Mismatch as mismatch:
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            shown = "\n".join(json.dumps(m, indent=2) for m in messages)
            raise SystemExit(
                f"docs/api.md:{line} {method}: {mismatch}\n"
                f"grpcurl exited {status}; stdout:\n{shown}\nstderr:\n{err}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpcurl", required=True, help="the grpcurl binary")
    parser.add_argument("--address", required=True, help="the sandbox fundingd, host:port")
    parser.add_argument("--doc", required=True, help="docs/api.md")
    args = parser.parse_args()
    with open(args.doc, encoding="utf-8") as doc:
        found = examples(doc.read())
    bound, errors_with_info = {}, 0
    for line, argv, answer, error in found:
        argv = [args.grpcurl] + [
            args.address if word == DOC_ADDRESS else substitute(word, bound, line)
            for word in argv[1:]
        ]
        bind, real_error = check(line, argv, answer, error, bound)
        bound.update(bind)
        if real_error and any(
            d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo" and d.get("reason")
            for d in real_error["details"]
        ):
            errors_with_info += 1
        print(f"docs/api.md:{line} {argv[-1]}: ok", flush=True)
    if errors_with_info == 0:
        raise SystemExit("docs/api.md shows no error whose google.rpc.ErrorInfo grpcurl decodes")
    print(f"api_doc.py: {len(found)} examples answered as documented, through grpcurl")


if __name__ == "__main__":
    sys.exit(main())
