"""Measure the web demo server: memory over many requests, and latency.

Starts the page (``app.py``) in a child process on a free loopback port
with the models given (same options as the app), sends requests one after
another through Gradio's client (the page's own API, queue included) and
reads the server's resident memory (RSS, psutil) after each::

    python -m projects.web_demo.mmvlm_web_demo.soak --requests 200 \\
        --image data/demo/concepts/images/test_held_out_noto/00000.jpg \\
        -- --work-dir work_dirs/demo

Prints one JSON object: RSS after request 20 and after the last one, their
ratio, and the latency of the first request (model loading included), of
warm requests with the same prompts (cached text embeddings) and with new
prompts each time: end to end through the client (``*_s``: upload, queue,
encoding of the pictures included) and inside the server (``server_*``:
the model, drawing and heat-maps).
Request ``i`` asks the base prompts (even ``i``: their text embeddings
are cached after the first) or every base prompt with `` <i>`` appended
(odd ``i``: a vocabulary of the same size never asked before).
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from typing import List, Optional, Sequence

import psutil

#: The request after which the reference memory is read.
REFERENCE_REQUEST = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rss_mib(process: psutil.Process) -> float:
    """Resident memory of the server and its children, MiB."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _served_seconds(message: str) -> float:
    """Seconds the server spent on a request (its status line)."""
    found = re.search(r'request \d+, ([0-9.]+) s', message)
    return float(found.group(1)) if found else float('nan')


def _wait_ready(url: str, server: subprocess.Popen, timeout: float) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f'the server exited with {server.returncode} '
                               'before it served the page; run the app '
                               'command by hand to see why.')
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f'{url} not served after {timeout} s')


def soak(app_args: Sequence[str], image: str, prompts: str,
         requests: int, model: str, score_thr: float = 0.3,
         heatmaps: bool = True, log: Optional[str] = None) -> dict:
    """Run the server, send ``requests`` requests, measure.

    Args:
        app_args (Sequence[str]): Options of ``app.py`` (models).
        image (str): Image sent with every request.
        prompts (str): Base prompts.
        requests (int): How many requests (at least
            :data:`REFERENCE_REQUEST`).
        model (str): Model key (as listed by the app).
        score_thr (float): Score threshold sent.
        heatmaps (bool): Ask for heat-maps.
        log (str, optional): File for the server's output.

    Returns:
        dict: ``rss_mib`` per request, ``rss_ratio`` (last / request 20),
        latencies in seconds and the request count.
    """
    from gradio_client import Client, handle_file
    if requests < REFERENCE_REQUEST:
        raise ValueError(f'requests={requests}; at least '
                         f'{REFERENCE_REQUEST} (the reference point).')
    port = _free_port()
    url = f'http://127.0.0.1:{port}/'
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False',
               HF_HUB_OFFLINE='1')
    out = open(log or os.devnull, 'w')
    server = subprocess.Popen(
        [sys.executable, '-m', 'projects.web_demo.mmvlm_web_demo.app',
         '--port', str(port), *app_args], stdout=out,
        stderr=subprocess.STDOUT, env=env)
    try:
        _wait_ready(url, server, 300)
        process = psutil.Process(server.pid)
        client = Client(url, verbose=False)
        upload = handle_file(image)
        rss: List[float] = []
        seconds: List[float] = []
        messages = []
        for i in range(requests):
            text = prompts if i % 2 == 0 else '. '.join(
                f'{p.strip()} {i}' for p in prompts.split('.'))
            start = time.perf_counter()
            answer = client.predict(model, 'language-guided', None, upload,
                                    text, None, score_thr, 30, heatmaps,
                                    api_name='/run_det')
            seconds.append(time.perf_counter() - start)
            messages.append(answer[0])
            rss.append(_rss_mib(process))
        refused = [m for m in messages if 'Not run' in m or 'Failed' in m]
        if refused:
            raise RuntimeError(f'{len(refused)} requests refused, e.g. '
                               f'{refused[0]}')
        served = [_served_seconds(m) for m in messages]
        reference = rss[REFERENCE_REQUEST - 1]
        return dict(
            requests=requests,
            rss_mib_after_20=round(reference, 1),
            rss_mib_after_last=round(rss[-1], 1),
            rss_ratio=round(rss[-1] / reference, 4),
            first_request_s=round(seconds[0], 3),
            warm_cached_vocabulary_s=round(
                statistics.median(seconds[2::2]), 3),
            warm_new_vocabulary_s=round(statistics.median(seconds[1::2]),
                                        3),
            server_first_request_s=served[0],
            server_warm_cached_vocabulary_s=round(
                statistics.median(served[2::2]), 3),
            server_warm_new_vocabulary_s=round(
                statistics.median(served[1::2]), 3),
            last_message=messages[-1])
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        out.close()


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    app_args: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, app_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(
        description='Memory and latency of the web demo server.',
        epilog='Options after -- go to app.py (the models).')
    parser.add_argument('--image', required=True)
    parser.add_argument('--prompts', default='a cat. a red car')
    parser.add_argument('--model', default='concepts_lg')
    parser.add_argument('--requests', type=int, default=200)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--no-heatmaps', action='store_true')
    parser.add_argument('--log', help='server output file')
    args = parser.parse_args(argv)
    result = soak(app_args, args.image, args.prompts, args.requests,
                  args.model, args.score_thr, not args.no_heatmaps,
                  args.log)
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == '__main__':
    main()
