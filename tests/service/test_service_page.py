"""The HTML status page rendered by a real headless Chromium (Debian's package).

What the checks prove:
- ``--dump-dom``: the DOM Chromium built from the page holds one row per arm with the arm's
  name in its name cell, under its experiment's heading;
- ``--screenshot``: Chromium laid out and painted the page (a PNG of the window size, not
  blank), with exactly one interval bar per arm, top to bottom in arm order, whose painted
  width and left offset in pixels equal the API's 90% interval times the 400-pixel axis
  (+-2 px), each with its mean tick inside it.  The arm names in the picture are not read
  (no OCR): the names are checked in the DOM.
"""

import subprocess

import httpx
import numpy as np
import pytest
from conftest import chromium_binary
from matplotlib import image

from bayesrec.service import page

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1", "--window-size=1200,700"]


def chromium(tmp_path, *args):
    exe = chromium_binary()
    if exe is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def bands(mask):
    """``[(first row, last row, first col, last col)]`` of vertical runs of rows with pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    out = []
    if rows.size == 0:
        return out
    starts = np.r_[0, np.flatnonzero(np.diff(rows) > 1) + 1]
    ends = np.r_[starts[1:] - 1, rows.size - 1]
    for s, e in zip(starts, ends):
        cols = np.flatnonzero(mask[rows[s]:rows[e] + 1].any(axis=0))
        out.append((rows[s], rows[e], cols[0], cols[-1]))
    return out


def test_status_page_in_headless_chromium(server_factory, sqlite_url, tmp_path):
    srv = server_factory(sqlite_url, workers=1)
    arms = ["alpha-arm", "bravo-arm", "charlie-arm"]
    with httpx.Client(base_url=srv.url) as client:
        assert client.post("/experiments", json={"name": "homepage",
                                                 "arms": arms}).status_code == 201
        # distinct posteriors: 2/10, 9/12 and 30/40 successes
        events = []
        for arm, (s, n) in zip(arms, [(2, 10), (9, 12), (30, 40)]):
            events += [{"event_id": f"{arm}-{i}", "arm": arm, "reward": int(i < s)}
                       for i in range(n)]
        assert client.post("/experiments/homepage/rewards",
                           json={"events": events}).status_code == 200
        rows = client.get("/experiments/homepage/posterior").json()["arms"]
        html = client.get("/").text
    assert all(name in html for name in arms)

    dom = chromium(tmp_path, "--dump-dom", srv.url + "/").stdout
    assert '<h2 class="experiment">homepage</h2>' in dom
    for name in arms:
        assert f'<td class="name">{name}</td>' in dom
    assert dom.count('<tr class="arm">') == 3

    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", srv.url + "/")
    img = image.imread(shot)
    assert img.shape[:2] == (700, 1200)
    pixels = np.round(img[..., :3] * 255).astype(int)
    assert pixels.std() > 10                                  # not a blank page
    interval = np.abs(pixels - rgb(page.INTERVAL_COLOUR)).max(axis=2) <= 3
    mean = np.abs(pixels - rgb(page.MEAN_COLOUR)).max(axis=2) <= 3
    found = bands(interval)
    assert len(found) == 3, found
    x0 = found[0][2] - round(rows[0]["lower"] * page.BAR_WIDTH)    # the axis' origin
    for (top, bottom, left, right), row in zip(found, rows):
        assert abs(left - x0 - row["lower"] * page.BAR_WIDTH) <= 2
        assert abs(right + 1 - x0 - row["upper"] * page.BAR_WIDTH) <= 2
        tick = np.flatnonzero(mean[top:bottom + 1].any(axis=0))
        assert tick.size and abs(tick[0] - x0 - row["mean"] * page.BAR_WIDTH) <= 2
    assert [r["arm"] for r in rows] == arms                   # bands are in arm order
