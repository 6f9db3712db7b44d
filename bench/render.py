"""Benchmark: dunning letters rendered per second on one core.

Rates are per CPU second of this process (`time.process_time`), pinned to one core, so other
work on the machine does not count; the wall-clock time is printed beside them.

E-mails: `TemplateRenderer.render(with_pdf=False)` plus the MIME message as the e-mail channel
sends it (subject, text, HTML, the SEPA QR code inline). PDF letters: `render(with_pdf=True)`,
the whole letter including the e-mail parts it is laid out from. Every letter differs (debtor,
amounts, invoices, betalingskenmerk), so nothing is served from a cache but the compiled
templates and fonts, as in a real run. Aims: >= 200 e-mails/s and >= 20 PDF letters/s.

    python bench/render.py [--emails 1000] [--letters 200] [--look bench/out]

`--look DIR` also writes a Dutch consumer 14-day letter and a business reminder as PDF into
DIR, and as PNG pages when poppler's pdftoppm is installed, to look at.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.channels.email import MessageOptions  # noqa: E402
from connector.channels.email import build_message  # noqa: E402
from connector.channels.email import message_bytes  # noqa: E402
from connector.channels.letter import pdf_page_count  # noqa: E402
from connector.dunning import law  # noqa: E402
from connector.dunning.model import Letter  # noqa: E402
from connector.dunning.model import LetterItem  # noqa: E402
from connector.dunning.render import TEMPLATE_NAMES  # noqa: E402
from connector.dunning.render import TemplateRenderer  # noqa: E402
from tests.fakes.letters import business_letter  # noqa: E402
from tests.fakes.letters import consumer_letter  # noqa: E402


def letters(count: int, seed: int = 11) -> list[Letter]:
    rng = random.Random(seed)
    out: list[Letter] = []
    templates = [name for name in TEMPLATE_NAMES if name != "final_notice_consumer"]
    for n in range(count):
        language = "nl" if rng.random() < 0.8 else "en"
        items = tuple(
            LetterItem(
                k,
                f"2026-{n:05d}-{k}",
                date(2026, 1, 1) + timedelta(days=rng.randrange(40)),
                date(2026, 2, 1) + timedelta(days=rng.randrange(30)),
                rng.randrange(1, 60),
                Decimal(rng.randrange(1000, 250000)) / 100,
            )
            for k in range(rng.randrange(1, 5))
        )
        if n % 5 == 0:
            letter = consumer_letter(language, items=items)
        else:
            principal = sum((item.open_amount for item in items), Decimal(0))
            letter = business_letter(
                language,
                template=templates[n % len(templates)],
                items=items,
                principal=principal,
                total=principal,
            )
        debtor = replace(letter.debtor, code=f"D{n:06d}")
        out.append(
            replace(
                letter,
                key=f"1/{debtor.code}/{letter.step_name}/1",
                debtor=debtor,
                payment_reference=law.make_betalingskenmerk(100000 + n),
            )
        )
    return out


def look(folder: Path, renderer: TemplateRenderer) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    two_invoices = consumer_letter().items[:2]
    principal = sum((item.open_amount for item in two_invoices), Decimal(0))
    samples = {
        "consumer-14-day-letter-nl": consumer_letter(items=two_invoices),
        "business-reminder-nl": business_letter(),
    }
    for name, letter in samples.items():
        if name.startswith("consumer"):
            assert letter.principal == principal
        pdf = renderer.render(letter, with_pdf=True).pdf
        assert pdf is not None
        path = folder / f"{name}.pdf"
        path.write_bytes(pdf)
        print(f"wrote {path} ({pdf_page_count(pdf)} page(s))")
        if shutil.which("pdftoppm"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", str(path), str(folder / name)], check=True
            )
            print(f"      {folder / name}-*.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--look", type=Path, help="write sample letters as PDF and PNG here")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    renderer = TemplateRenderer()
    if args.look:
        look(args.look, renderer)
    options = MessageOptions(from_address="herinneringen@goudenkorenaar.nl")
    warm = letters(10, seed=1)
    for letter in warm:  # compile templates, load fonts
        build_message(letter, renderer.render(letter, with_pdf=True), options)

    batch = letters(args.emails)
    cpu, wall = time.process_time(), time.perf_counter()
    size = 0
    for letter in batch:
        message = build_message(letter, renderer.render(letter, with_pdf=False), options)
        size += len(message_bytes(message))
    email_cpu, email_wall = time.process_time() - cpu, time.perf_counter() - wall

    batch = letters(args.letters, seed=12)
    cpu, wall = time.process_time(), time.perf_counter()
    pages = 0
    for letter in batch:
        pdf = renderer.render(letter, with_pdf=True).pdf
        assert pdf is not None
        pages += pdf_page_count(pdf)
    pdf_cpu, pdf_wall = time.process_time() - cpu, time.perf_counter() - wall

    print(
        f"e-mails rendered:     {args.emails / email_cpu:8,.1f}/s  ({args.emails} in "
        f"{email_cpu:.2f} s CPU, {email_wall:.2f} s wall; {size / args.emails / 1024:.0f} KiB "
        "each; aim >= 200/s)"
    )
    print(
        f"PDF letters rendered: {args.letters / pdf_cpu:8,.1f}/s  ({args.letters} in "
        f"{pdf_cpu:.2f} s CPU, {pdf_wall:.2f} s wall; aim >= 20/s)"
    )
    print(
        f"PDF pages rendered:   {pages / pdf_cpu:8,.1f}/s  ({pages} pages, "
        f"{pages / args.letters:.2f} per letter)"
    )


if __name__ == "__main__":
    main()
