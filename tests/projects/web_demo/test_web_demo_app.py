"""The web demo in a real browser: headless Chromium (Debian's package)
driven by selenium against the page served on the loopback address.

The page serves tiny untrained models (web_demo_fixtures.py), so the tests
check what the page does (a typed prompt comes back as a label, a threshold
above every score draws nothing, the segmentation tab, the stock twin, every
bad input gets a message and the server goes on), not what a trained model
finds; test_web_demo_trained.py does that with the main job's checkpoint.
Screenshots go to work_dirs/web_demo/.
"""
import os.path as osp
import threading

import cv2
import numpy as np
import pytest

from projects.web_demo.mmvlm_web_demo.browser import (Page,
                                                      browser_missing,
                                                      free_port,
                                                      start_driver, wait_for)

pytestmark = pytest.mark.skipif(
    browser_missing() is not None,
    reason=f'browser tests need gradio, selenium and Chromium: '
    f'{browser_missing()}')

if browser_missing() is None:
    from web_demo_fixtures import make_tiny_models, write_image

    from projects.web_demo.mmvlm_web_demo.app import build_app
    from projects.web_demo.mmvlm_web_demo.catalog import (DETECTION,
                                                          user_entry)
    from projects.web_demo.mmvlm_web_demo.service import DemoService


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('web_demo'))
    entries = make_tiny_models(root)
    det = entries[0]
    entries.append(user_entry(det.config, osp.join(root, 'gone.pth'),
                              DETECTION, key='missing_checkpoint'))
    service = DemoService(entries)
    app = build_app(service)
    app.queue(default_concurrency_limit=1, max_size=64)
    port = free_port()
    app.launch(server_name='127.0.0.1', server_port=port,
               prevent_thread_lock=True, quiet=True, ssr_mode=False,
               max_file_size='60mb', footer_links=[])
    yield dict(url=f'http://127.0.0.1:{port}/', root=root, service=service,
               image=det.examples[0].path)
    app.close()


@pytest.fixture(scope='module')
def driver(server):
    drv = start_driver()
    drv.get(server['url'])
    yield drv
    drv.quit()


@pytest.fixture
def det(driver):
    page = Page(driver, 'det')
    page.show()
    return page


def test_page_loads_with_both_tabs_and_the_name_lists(driver, det):
    assert 'language-guided detection and segmentation' in driver.title
    assert det.find('#det-run').is_displayed()
    names = det.find('#det-names').text
    assert 'Seen in training' in names and 'Never seen in training' in names
    assert 'dead tree' in names
    det.screenshot('page_loaded.png')


def test_typed_prompt_comes_back_as_a_label(server, det):
    det.upload(server['image'])
    det.set_text('prompts', 'a red car')
    det.set_number('thr', 0.0)
    message = det.run()
    assert '"a red car"' in message and 'box(es)' in message
    assert 'a red car' in det.table()
    assert det.result_image_src()
    assert det.heatmap_count() >= 1
    det.screenshot('detection_prompt.png')


def test_threshold_above_every_score_draws_nothing(server, det):
    """The untrained heads score every prompt far below 0.9."""
    det.upload(server['image'])
    det.set_text('prompts', 'bacterium')
    det.set_number('thr', 0.9)
    message = det.run()
    assert 'nothing at or above score 0.90' in message
    assert 'bacterium' not in det.table()
    det.screenshot('detection_nothing.png')


def test_stock_twin_answers_with_its_classes_only(server, det, driver):
    from selenium.webdriver.common.by import By
    det.upload(server['image'])
    det.set_text('prompts', 'tree. a red car')
    det.set_number('thr', 0.0)
    radio = det.find('#det-variant')
    radio.find_element(By.XPATH, ".//label[contains(., 'stock twin')]"
                       ).click()
    try:
        message = det.run()
    finally:
        radio.find_element(
            By.XPATH, ".//label[contains(., 'language-guided')]").click()
    assert '(stock)' in message
    assert 'cannot look for "a red car"' in message


def test_segmentation_tab_works(server, driver):
    seg = Page(driver, 'seg')
    seg.show()
    seg.upload(server['image'])
    seg.set_text('prompts', 'background. left hippocampus')
    message = seg.run()
    assert 'cover pixels' in message
    table = seg.table()
    assert 'background' in table and 'left hippocampus' in table
    assert seg.result_image_src()
    seg.screenshot('segmentation.png')
    Page(driver, 'det').show()


# ------------------------------------------------------------- bad input
def test_empty_prompt_is_a_message(server, det):
    det.upload(server['image'])
    det.set_text('prompts', '   ')
    assert 'No prompt' in det.run()


def test_two_thousand_prompts_are_a_message(server, det):
    det.upload(server['image'])
    det.set_text('prompts', '. '.join(f'thing {i}' for i in range(2000)))
    message = det.run()
    assert '2000 prompts given' in message and 'at most 100' in message


def test_cjk_prompt_is_answered(server, det):
    """The tiny model's tokenizer (MiniLM's WordPiece) has no glyph for
    these: mmvlm refuses them by name, and the page shows why."""
    det.upload(server['image'])
    det.set_text('prompts', '猫。红色的汽车')
    message = det.run()
    assert 'Not run' in message and 'cannot represent' in message
    assert '猫' in message


def test_non_image_upload_is_a_message(server, det, tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('not a picture\n')
    det.upload(str(path))
    det.set_text('prompts', 'tree')
    message = det.run()
    assert "'notes.txt' is not an image" in message
    det.screenshot('bad_upload.png')


def test_6000_by_4000_image_is_shrunk_and_run(server, det, tmp_path):
    image = np.zeros((4000, 6000, 3), np.uint8)
    image[:] = (90, 120, 60)
    cv2.circle(image, (3000, 2000), 600, (30, 160, 30), -1)
    path = str(tmp_path / 'huge.png')
    cv2.imwrite(path, image)
    det.upload(path)
    det.set_text('prompts', 'tree')
    det.set_number('thr', 0.0)
    message = det.run()
    assert '6000 x 4000' in message and 'shrunk to 1333 x 889' in message
    assert 'box(es)' in message


def test_missing_checkpoint_is_a_message_and_the_server_goes_on(
        server, det):
    det.choose('model', 'missing_checkpoint')
    det.upload(server['image'])
    det.set_text('prompts', 'tree')
    message = det.run()
    assert 'gone.pth' in message and 'not found' in message
    det.choose('model', 'tiny_det_lg')
    det.set_text('prompts', 'tree')
    det.set_number('thr', 0.0)
    assert 'box(es)' in det.run()


def test_four_requests_at_once_are_all_answered(server, tmp_path):
    """Four API clients through the page's queue at the same time."""
    from gradio_client import Client, handle_file
    image = write_image(str(tmp_path / 'scene.png'), seed=3)
    answers = [None] * 4
    errors = []

    def ask(i):
        try:
            client = Client(server['url'], verbose=False)
            answers[i] = client.predict(
                'tiny_det_lg', 'language-guided', None, handle_file(image),
                f'tree. thing {i}', None, 0.0, 10, False,
                api_name='/run_det')
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=ask, args=(i, )) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for i, answer in enumerate(answers):
        assert answer is not None
        assert 'box(es)' in answer[0], answer[0]


def test_example_scene_fills_the_prompts_and_runs(server, det):
    det.clear_upload()
    det.set_text('prompts', 'something else')
    det.choose('example', '1: example.png')
    box = det.find('#det-prompts textarea')
    wait_for(lambda: box.get_attribute('value') == 'tree. dead tree', 30,
             'the example prompts filled in')
    det.set_number('thr', 0.0)
    message = det.run()
    assert 'box(es)' in message, message
