"""Drive the web demo in headless Chromium: the browser tests and the
screenshot tool (``screenshot.py``) use it.

Chromium and chromedriver are Debian's, unpacked by
``tools/env/setup_web_demo_env.sh`` into ``$MMVLM_CHROMIUM_DIR`` (default
``~/.cache/mmvlm/chromium``); selenium starts them with the libraries of
that folder on ``LD_LIBRARY_PATH`` and never downloads a browser.
"""
import os
import os.path as osp
import re
import socket
import time
from typing import Optional

SETUP = 'bash tools/env/setup_web_demo_env.sh'
CHROMIUM_DIR = os.environ.get(
    'MMVLM_CHROMIUM_DIR', osp.expanduser('~/.cache/mmvlm/chromium'))
CHROMIUM = osp.join(CHROMIUM_DIR, 'usr', 'lib', 'chromium', 'chromium')
CHROMEDRIVER = osp.join(CHROMIUM_DIR, 'usr', 'bin', 'chromedriver')
LIBRARY_PATH = ':'.join(
    osp.join(CHROMIUM_DIR, 'usr', 'lib', p)
    for p in ('chromium', 'x86_64-linux-gnu',
              'x86_64-linux-gnu/pulseaudio'))
#: Screenshots of the browser tests (kept as CI artefacts).
SHOTS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__))))), 'work_dirs', 'web_demo')


def browser_missing() -> Optional[str]:
    """Why the browser tests cannot run (None when they can)."""
    try:
        import gradio  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as e:
        return f'{e.name} is not installed: run `{SETUP}`.'
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f'{path} not found: run `{SETUP}`.'
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_driver(width: int = 1400, height: int = 1800):
    """Headless Chromium under chromedriver, both from ``CHROMIUM_DIR``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', f'--window-size={width},{height}',
                '--hide-scrollbars'):
        options.add_argument(arg)
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = LIBRARY_PATH + (
        ':' + env['LD_LIBRARY_PATH'] if env.get('LD_LIBRARY_PATH') else '')
    service = Service(executable_path=CHROMEDRIVER, env=env)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(condition, timeout: float = 120.0, what: str = 'condition'):
    """Poll ``condition()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as e:  # element not there yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.25)
    raise TimeoutError(f'{what} not met after {timeout} s (last: {last!r})')


def request_number(message: str) -> int:
    """The request number of a status line (0 when it has none)."""
    found = re.search(r'request (\d+),', message)
    return int(found.group(1)) if found else 0


class Page:
    """One tab of the demo page (``tag`` 'det' or 'seg')."""

    def __init__(self, driver, tag: str):
        self.driver = driver
        self.tag = tag

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def show(self) -> None:
        from selenium.webdriver.common.by import By
        label = 'Detection' if self.tag == 'det' else 'Segmentation'
        for button in self.driver.find_elements(By.CSS_SELECTOR,
                                                'button[role="tab"]'):
            if button.text.strip() == label:
                button.click()
                break
        wait_for(lambda: self.find(f'#{self.tag}-run').is_displayed(), 30,
                 f'{label} tab shown')

    def set_text(self, elem_id: str, text: str) -> None:
        """Type into a textbox (long texts are set by script, as a paste)."""
        box = self.find(f'#{self.tag}-{elem_id} textarea')
        if len(text) > 200:
            self.driver.execute_script(
                'arguments[0].value = arguments[1];'
                'arguments[0].dispatchEvent(new Event("input", '
                '{bubbles: true}));', box, text)
        else:
            box.clear()
            box.send_keys(text)

    def set_number(self, elem_id: str, value: float) -> None:
        from selenium.webdriver.common.keys import Keys
        box = self.find(f'#{self.tag}-{elem_id} input[type="number"]')
        box.send_keys(Keys.CONTROL, 'a')
        box.send_keys(str(value), Keys.TAB)

    def upload(self, path: str, elem_id: str = 'upload') -> None:
        """Upload a file and wait until the box shows its name."""
        self.clear_upload(elem_id)
        self.find(f'#{self.tag}-{elem_id} input[type="file"]').send_keys(
            osp.abspath(path))
        name = osp.basename(path)
        wait_for(
            lambda: self.find(f'#{self.tag}-{elem_id} '
                              f'td.filename[aria-label="{name}"]'), 120,
            f'{name} uploaded')

    def clear_upload(self, elem_id: str = 'upload') -> None:
        from selenium.webdriver.common.by import By
        box = self.find(f'#{self.tag}-{elem_id}')
        for button in box.find_elements(By.CSS_SELECTOR,
                                        'button[aria-label="Clear"]'):
            button.click()

    def choose(self, elem_id: str, text: str) -> None:
        """Pick an entry of a dropdown by typing it."""
        from selenium.webdriver.common.keys import Keys
        box = self.find(f'#{self.tag}-{elem_id} input')
        box.click()
        box.send_keys(Keys.CONTROL, 'a')
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def message(self) -> str:
        return self.find(f'#{self.tag}-message').text

    def run(self, timeout: float = 180.0) -> str:
        """Press Run; wait for the next request's status line."""
        before = request_number(self.message())
        self.find(f'#{self.tag}-run').click()
        return wait_for(
            lambda: (lambda m: m if request_number(m) > before else '')
            (self.message()), timeout, 'a new status line')

    def table(self) -> str:
        return self.find(f'#{self.tag}-table').text

    def result_image_src(self) -> str:
        return self.find(f'#{self.tag}-image img').get_attribute('src') or ''

    def heatmap_count(self) -> int:
        from selenium.webdriver.common.by import By
        return len(self.driver.find_elements(
            By.CSS_SELECTOR, f'#{self.tag}-heatmaps img'))

    def screenshot(self, name: str) -> str:
        os.makedirs(SHOTS, exist_ok=True)
        path = osp.join(SHOTS, name)
        self.driver.save_screenshot(path)
        return path
