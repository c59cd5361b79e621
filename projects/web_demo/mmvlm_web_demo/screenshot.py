"""Take a screenshot of the page after one request, in headless Chromium
(``tools/env/setup_web_demo_env.sh`` installs it): the picture of the docs.

    python -m projects.web_demo.mmvlm_web_demo.screenshot \\
        --image data/demo/concepts/images/test_held_out_noto/00003.jpg \\
        --prompts "nerd face" --score-thr 0.19 \\
        --out docs/images/web_demo.png -- --work-dir work_dirs/demo

Options after ``--`` go to ``app.py`` (which models the page serves). The
full page is saved to ``work_dirs/web_demo/``; ``--out`` gets a copy shrunk to
``--width`` pixels.
"""
import argparse
import os
import subprocess
import sys
import time
from typing import List, Optional, Sequence

import cv2
from PIL import Image

from .browser import Page, free_port, start_driver, wait_for


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    app_args: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, app_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--image', required=True)
    parser.add_argument('--prompts', required=True)
    parser.add_argument('--model', help='model key (default: the first)')
    parser.add_argument('--tab', choices=('det', 'seg'), default='det')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--out', help='small PNG of the result column')
    parser.add_argument('--width', type=int, default=900)
    args = parser.parse_args(argv)

    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False',
               HF_HUB_OFFLINE='1')
    server = subprocess.Popen(
        [sys.executable, '-m', 'projects.web_demo.mmvlm_web_demo.app',
         '--port', str(port), *app_args], stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT, env=env)
    driver = None
    try:
        driver = start_driver(1400, 1500)
        url = f'http://127.0.0.1:{port}/'

        def served():
            if server.poll() is not None:
                raise SystemExit(f'the app exited with {server.returncode}')
            try:
                driver.get(url)
                return 'mmvlm' in driver.title
            except Exception:
                return False

        wait_for(served, 300, 'the page served')
        page = Page(driver, args.tab)
        page.show()
        if args.model:
            page.choose('model', args.model)
        page.upload(args.image)
        page.set_text('prompts', args.prompts)
        if args.tab == 'det':
            page.set_number('thr', args.score_thr)
        print(page.run())
        wait_for(page.result_image_src, 60, 'the result picture')
        time.sleep(3)  # let the page finish fading the new outputs in
        full = page.screenshot(f'screenshot_{args.tab}.png')
        print(f'page: {full}')
        if args.out:
            image = cv2.imread(full)
            scale = min(1.0, args.width / image.shape[1])
            image = cv2.resize(image, None, fx=scale, fy=scale,
                               interpolation=cv2.INTER_AREA)
            # 256 colours: a small PNG for the docs
            Image.fromarray(image[..., ::-1]).quantize(256).save(
                args.out, optimize=True)
            print(f'small copy: {args.out} ({os.path.getsize(args.out)} '
                  'bytes)')
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(30)


if __name__ == '__main__':
    main()
