"""Markdown tables of a benchmark run, written into docs/benchmarks.md.

The generated part of the page lies between :data:`BEGIN` and :data:`END`;
the text around it (explanations, profiles) is kept.
"""
import os.path as osp
from typing import Optional

from mmvlm.benchmarks.runner import GOALS

BEGIN = '<!-- benchmark tables: begin (tools/benchmark/benchmark.py) -->'
END = '<!-- benchmark tables: end -->'


def _value(value) -> str:
    if value is None:
        return 'not measured'
    if isinstance(value, float):
        return f'{value:.3f}'
    return str(value)


def render_tables(result: dict, command: str) -> str:
    """The generated section: command, machine, keys, memory, details.

    Args:
        result (dict): :func:`mmvlm.benchmarks.runner.run_benchmark`'s
            output.
        command (str): The command line that produced it.

    Returns:
        str: Markdown, between the markers.
    """
    keys, met = result['keys'], result['met']
    settings, mach = result['settings'], result['machine']
    lines = [
        BEGIN, '', f'Command: `{command}` ({result["seconds"]:.0f} s).', '',
        f'Machine: {mach.get("cpu", mach.get("processor"))}, '
        f'{mach["cpu_count"]} cores, torch {mach["torch"]} with '
        f'{settings["threads"]} thread(s)'
        + (f', GPU {mach["gpu"]}' if 'gpu' in mach else '') +
        f'; device `{settings["device"]}`.', '',
        'Settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()
                                 if k not in ('device', 'threads')) + '.',
        '', '| key | value | goal | met |', '| --- | ---: | --- | --- |'
    ]
    for key in GOALS:
        op, bound = GOALS[key]
        flag = {True: 'yes', False: '**no**', None: '-'}[met.get(key)]
        lines.append(f'| `{key}` | {_value(keys.get(key))} | {op} {bound} '
                     f'| {flag} |')
    lines += ['', '| memory key (peak, this side / other) | value |',
              '| --- | ---: |']
    for key, value in keys.items():
        if key.startswith('mem_'):
            lines.append(f'| `{key}` | {_value(value)} |')
    vocab = [k for k in keys if k.startswith('vocab_encode_peak_mb_')]
    if vocab:
        lines += ['', '| vocabulary key (peak MiB while encoding) | value |',
                  '| --- | ---: |']
        lines += [f'| `{k}` | {_value(keys[k])} |' for k in vocab]
    lines += ['', '| pair | side | median s | runs s | memory MiB |',
              '| --- | --- | ---: | --- | ---: |']
    for pair, detail in result['details'].items():
        if 'seconds' not in detail:
            continue
        for side, seconds in detail['seconds'].items():
            runs = ', '.join(f'{t:.3f}' for t in detail['runs_s'][side])
            mib = detail['memory_bytes'][side] / 2**20
            lines.append(f'| {pair} | {side} | {seconds:.3f} | {runs} | '
                         f'{mib:.0f} |')
    extra = {k: v for k, v in result['details'].items()
             if 'seconds' not in v}
    for name, detail in extra.items():
        lines.append('')
        lines.append(f'`{name}`: ' + ', '.join(
            f'{k}={_value(v)}' for k, v in detail.items()))
    for message in result['messages']:
        lines += ['', f'Note: {message}']
    lines += ['', END]
    return '\n'.join(lines)


def update_doc(path: str, result: dict, command: str,
               intro: Optional[str] = None) -> None:
    """Replace the generated section of ``path`` (create the page when
    missing, with ``intro`` above the tables)."""
    tables = render_tables(result, command)
    if osp.exists(path):
        with open(path) as f:
            text = f.read()
        if BEGIN in text and END in text:
            head = text[:text.index(BEGIN)]
            tail = text[text.index(END) + len(END):]
            text = head + tables + tail
        else:
            text = text.rstrip('\n') + '\n\n' + tables + '\n'
    else:
        text = (intro or '# Benchmarks\n') + '\n' + tables + '\n'
    with open(path, 'w') as f:
        f.write(text)
