"""The hand-written C of the core (``consumer/core/_*.c``) under AddressSanitizer and UBSan.

Each extension is compiled again with ``-fsanitize=address,undefined`` into a temporary folder
and driven by random inputs in a child Python (the sanitizer runtime preloaded), against the
Python each one replaces: an out-of-bounds read or write, a use after free or undefined
behaviour aborts the child, and a wrong result fails an assertion. The property tests check the
results more thoroughly; this checks the memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from consumer.build_info import CORE_DIR, native_sources

SANITIZERS = "-fsanitize=address,undefined"

DRIVER = textwrap.dedent(
    """
    import importlib.util, random, sys

    def load(name):
        spec = importlib.util.spec_from_file_location(f"consumer.core.{name}", f"{sys.argv[1]}/{name}.so")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    from consumer.core.dedup_table import claim_slots, expire_slots, move_slots, put_slots
    from consumer.core.digest import sha256_hex_hashlib
    from consumer.core.phone import digits_python

    table, phone, digest = load("_table"), load("_phone"), load("_digest")
    rng = random.Random(17)
    for _ in range(25):
        capacity = 1 << rng.randint(10, 12)
        mask = capacity - 1
        c, python = bytearray(capacity * 28), bytearray(capacity * 28)
        pool = [rng.randbytes(2) + bytes(13) + rng.randbytes(1) for _ in range(capacity // 2)]
        for _ in range(20):
            keys = rng.sample(pool, rng.randint(0, 150))
            owners = [rng.choice([b"A" * 8, b"B" * 8]) for _ in keys]
            now, until = rng.randint(0, 99), rng.randint(0, 199)
            assert table.claim(c, mask, keys, owners, now, until) == claim_slots(
                python, mask, keys, owners, now, until
            )
            assert table.put_many(c, mask, keys[::3], b"C" * 8, until) == put_slots(
                python, mask, keys[::3], b"C" * 8, until
            )
            bucket = bytearray(b"".join(rng.sample(pool, rng.randint(0, 80))))
            assert table.expire(c, mask, bucket, now) == expire_slots(python, mask, bucket, now)
            assert c == python
        grown_c, grown_python = bytearray(2 * len(c)), bytearray(2 * len(c))
        table.move(c, grown_c, 2 * capacity - 1)
        move_slots(python, grown_python, 2 * capacity - 1)
        assert grown_c == grown_python
    alphabet = "0123456789 -().\\u00a0/\\t+x\\u0663\\u00b2\\U0001f600"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        start = rng.randint(0, len(text))
        assert phone.digits(text, start) == digits_python(text, start)
        assert digest.sha256_hex(text) == sha256_hex_hashlib(text)
    print("clean")
    """
)


def _runtime(name: str) -> str:
    """The sanitizer runtime gcc links (``libasan.so``): its full path, to preload."""
    found = subprocess.run(
        ["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert os.path.isabs(found), f"gcc has no {name}: install gcc's sanitizer runtimes"
    return found


def test_the_c_extensions_are_clean_under_the_sanitizers(tmp_path: Path) -> None:
    include = sysconfig.get_paths()["include"]
    sources = native_sources()
    assert sorted(path.name for path in sources) == ["_digest.c", "_phone.c", "_table.c"]
    for source in sources:
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O1", "-g", SANITIZERS, "-fno-omit-frame-pointer",
             "-fno-sanitize-recover=all", f"-I{include}", str(source), "-lcrypto",
             "-o", str(tmp_path / f"{source.stem}.so")],
            check=True,
        )  # fmt: skip
    env = {
        **os.environ,
        "LD_PRELOAD": f"{_runtime('libasan.so')} {_runtime('libubsan.so')}",
        "ASAN_OPTIONS": "detect_leaks=0",  # CPython's own allocations are not ours to judge
        "PYTHONMALLOC": "malloc",  # every buffer from malloc, so ASan sees its bounds
        "PYTHONPATH": str(CORE_DIR.parents[1]),
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "clean"), done.stderr[-3000:]
