"""The web demo server's memory after 200 requests is within 10 % of its
memory after 20 (soak.py: the page in a child process, requests through
its queue with Gradio's client, half of them with a new vocabulary). No
timing is asserted."""
import pytest

pytest.importorskip(
    'gradio_client',
    reason='needs the web demo packages: run '
    '`bash tools/env/setup_web_demo_env.sh`')


def test_memory_after_200_requests_within_10_percent_of_after_20(
        tmp_path):
    from web_demo_fixtures import make_tiny_models

    from projects.web_demo.mmvlm_web_demo.soak import soak
    det = make_tiny_models(str(tmp_path))[0]
    log = tmp_path / 'server.log'
    result = soak(['--no-demo-models', '--config', det.config,
                   '--checkpoint', det.checkpoint],
                  det.examples[0].path, 'tree. a red car', 200, det.key,
                  score_thr=0.0, log=str(log))
    print(result)
    assert result['requests'] == 200
    assert 'box(es)' in result['last_message']
    assert result['rss_ratio'] <= 1.10, result
