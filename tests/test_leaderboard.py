"""The static leaderboard: built from real runs, checked as files and in headless Chromium.

The browser tests need Debian's chromium and chromium-driver (``.ci/run`` installs them);
without them they fail, saying how to install them.
"""

import json
import os
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bench.cli import main
from bench.gates import gate, parse_rules
from bench.runner import run
from bench.stats import SuiteResult, estimate
from leaderboard.data import page_name
from leaderboard.evidence import evidence, kind_of

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
PAYLOAD = f"a photo of {SCRIPT} and {IMG}"
SPEC = "custom:<b>bold</b> & 'q' $x$"
CHROMIUM = os.environ.get("GAUNTLET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GAUNTLET_CHROMEDRIVER", "/usr/bin/chromedriver")


class HostileCandidate:
    """Draws 256 px pictures; its spec carries markup."""

    spec = SPEC
    batch_size = 4

    def generate(self, requests):
        out = []
        for p, seed in requests:
            im = Image.new("RGB", (256, 256), (40 + 50 * seed, 120, 200))
            ImageDraw.Draw(im).rectangle((40, 60, 150 + 20 * seed, 200), fill=(230, 60 + len(p.text), 40))
            out.append(im)
        return out


class HostileSuite:
    """Prompts and judge records full of markup, one record of each kind the site knows."""

    name, version, overall_mode, judge_id = "inject", "1", "prompt_means", "hostile/1"
    texts = [PAYLOAD, f"two {IMG} things", f"{SCRIPT} counted", "plain scorer", "odd record"]

    def prompts(self):
        from bench.types import Prompt

        return [Prompt(f"p{i}", t, "<i>cat</i>" if i % 2 else "plain") for i, t in enumerate(self.texts)]

    def judge(self, batch):
        out = []
        for p, seed, _ in batch:
            k = int(p.id[1:])
            record = [
                {"correct": False, "reason": f"expected {IMG}", "details": {IMG: [[40, 60, 150, 200, 0.9]]}},
                {"questions": [{"question": f"is there {SCRIPT}?", "element_type": "object", "answer": "yes",
                                "free_form_vqa": IMG, "multiple_choice_vqa": "no", "score": 0}]},
                {"score_without_dependency": 0.5, "questions": [{"id": 1, "question": SCRIPT, "category": "entity",
                                                                 "answer": IMG, "raw": 0.0, "score": 0.0}]},
                {"score": 0.25},
                {"note": SCRIPT, "nested": {"x": IMG}},
            ][k]
            out.append((0.5 * (k % 2) + 0.25 * seed, record))
        return out

    def aggregate(self, judgments):
        overall = estimate([j.score for j in judgments], [j.prompt_id for j in judgments])
        cats = {c: estimate([j.score for j in judgments if j.category == c],
                            [j.prompt_id for j in judgments if j.category == c])
                for c in sorted({j.category for j in judgments})}
        return SuiteResult(overall.score, overall.ci, overall.n, cats)

    def write_official(self, out_dir, judgments, image_paths, prompts):
        out_dir.mkdir(parents=True, exist_ok=True)
        return []


def write_loop(work_dir, results, advanced_images=None):
    """A round loop's store as trainers/loop.py writes it: round 0 in ``loop``, rounds 1-2 (with
    ``advanced_images``: Edgen-style round folders whose data manifests count them)."""
    work_dir.mkdir(parents=True)
    checkpoints = ["c", "c"]
    for i, n in enumerate(advanced_images or []):
        folder = work_dir / f"round-{i + 1:03d}"
        folder.mkdir()
        (folder / "data_manifest.json").write_text(json.dumps({"trainer": "edgen", "advanced_images": n}))
        checkpoints[i] = str(folder)
    con = sqlite3.connect(work_dir / "loop.sqlite")
    con.executescript("""
        CREATE TABLE rounds (idx INTEGER PRIMARY KEY, status TEXT NOT NULL, parent TEXT NOT NULL, checkpoint TEXT,
            data_size INTEGER, train_seconds REAL, scores TEXT, decision TEXT, reason TEXT, seconds REAL);
        CREATE TABLE loop (key TEXT PRIMARY KEY, value TEXT NOT NULL);""")
    shifted = [{k: dict(v, overall=v["overall"] - d - i / 50, ci=[v["ci"][0] - d - 0.1, v["ci"][1] - d + 0.05])
                for i, (k, v) in enumerate(results.items())} for d in (0.2, 0.1, 0.3)]
    con.execute("INSERT INTO loop VALUES ('baseline_scores', ?)", (json.dumps(shifted[0]),))
    for idx, (decision, reason) in enumerate([("promote", "all rules pass"), ("reject", f"drop {SCRIPT}")], 1):
        con.execute("INSERT INTO rounds VALUES (?, 'decided', 'p', ?, 100, 1.0, ?, ?, ?, 2.0)",
                    (idx, checkpoints[idx - 1], json.dumps(shifted[idx]), decision, reason))
    con.commit()
    con.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    runs = root / "runs"
    outcomes = [run(spec, ["geneval-world", "tifa-world", "dsg-world"], runs, images_per_prompt=1, limit=2)
                for spec in ("world:oracle", "world:noisy:count=0.5")]
    hostile = run(HostileCandidate(), [HostileSuite()], runs, images_per_prompt=2)
    rules = parse_rules({"rule": [{"suite": "geneval-world", "min": 0.5}]}, "test rules")
    (outcomes[0].run_dir / "gate.json").write_text(json.dumps(gate(outcomes[0].run_dir, rules).to_json()))
    (hostile.run_dir / "gate-<i>.json").write_text(json.dumps({"decision": "fail", "rules": [
        {"rule": f"inject::score::{SCRIPT}", "decision": "fail", "value": 0.1, "ci": [0.0, 0.2], "n": 4,
         "reason": IMG, "baseline": None, "threshold": {"min": 0.5}}]}))
    write_loop(runs / "train" / "work", {k: v.to_json() for k, v in outcomes[0].results.items()})
    write_loop(runs / "train" / "edgen", {k: v.to_json() for k, v in outcomes[0].results.items()}, [40, 90])
    write_loop(runs / "train" / "edgen-uncurated", {k: v.to_json() for k, v in outcomes[0].results.items()},
               [40, 90])
    out = root / "site"
    t0 = time.perf_counter()
    assert main(["leaderboard", str(runs), "-o", str(out)]) == 0
    print(f"site built in {time.perf_counter() - t0:.1f} s")
    return {"root": out, "runs": runs, "hostile": hostile, "oracle": outcomes[0]}


def pages(site_dir):
    return sorted(site_dir.glob("*.html"))


def hostile_page(site):
    return site["root"] / page_name("candidate", site["hostile"].run_dir.name)


# --- files -----------------------------------------------------------------------------------------

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.refs += [v for k, v in attrs if k in ("src", "href", "xlink:href", "action", "poster", "srcset") and v]


def test_site_layout_and_thumbnails(site):
    root = site["root"]
    names = [p.name for p in pages(root)]
    assert "index.html" in names
    assert sum(n.startswith("suite-") for n in names) == 4
    assert sum(n.startswith("candidate-") for n in names) == 3
    assert sum(n.startswith("training-") for n in names) == 3
    assert (root / "static" / "site.css").is_file() and (root / "static" / "site.js").is_file()
    hashes = set()
    for store in site["runs"].rglob("store.sqlite"):
        with sqlite3.connect(store) as con:
            hashes |= {h for (h,) in con.execute("SELECT image_hash FROM judgments")}
    assert {p.stem for p in (root / "thumbs").rglob("*.png")} == hashes
    with sqlite3.connect(site["hostile"].run_dir / "store.sqlite") as con:
        digest = con.execute("SELECT image_hash FROM samples LIMIT 1").fetchone()[0]
    with Image.open(root / "thumbs" / digest[:2] / f"{digest}.png") as im:
        assert im.format == "PNG" and im.size == (192, 192)  # a real, downscaled file (from 256 px)


def test_every_reference_is_local(site):
    root = site["root"]
    for page in pages(root):
        parser = Links()
        parser.feed(page.read_text())
        for ref in parser.refs:
            assert "://" not in ref and not ref.startswith("//"), f"{page.name} refers to {ref}"
            target = ref.split("#")[0]
            assert not target or (root / target).exists(), f"{page.name}: {ref} is not in the site"
    css = (root / "static" / "site.css").read_text() + (root / "static" / "site.js").read_text()
    assert "http" not in css and "@import" not in css and "url(" not in css


def test_user_strings_are_escaped_in_the_html(site):
    for page in pages(site["root"]):
        text = page.read_text()
        for raw in (SCRIPT, IMG, "<b>bold</b>", "<i>cat</i>"):
            assert raw not in text, f"{raw} unescaped in {page.name}"
    cand = hostile_page(site)
    text = cand.read_text()
    assert "a photo of &lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(2)&gt;" in text
    assert "gate-&lt;i&gt;.json" in text and "custom:&lt;b&gt;bold&lt;/b&gt; &amp; &#39;q&#39; $x$" in text
    parser = Links()
    parser.feed(text)
    assert [a["src"] for t, a in parser.tags if t == "script"] == ["static/site.js"]
    assert not any(k.startswith("on") for _, a in parser.tags for k in a)


def test_evidence_of_each_record_kind():
    gen = evidence({"correct": False, "reason": "expected circle<5, found 5",
                    "details": {"circle": [[1, 2, 5, 6, 0.9], [3, 3, 4, 4, 0.8]], "square": []}})
    assert gen["kind"] == "geneval" and not gen["correct"] and gen["reason"].startswith("expected")
    assert gen["objects"] == [{"cls": "circle", "n": 2, "conf": [0.9, 0.8]}]
    assert gen["boxes"][0] == {"cls": "circle", "x": 1.0, "y": 2.0, "w": 4.0, "h": 4.0, "conf": 0.9}
    tifa = evidence({"questions": [{"question": "how many?", "element_type": "counting", "answer": "4",
                                    "free_form_vqa": "5", "multiple_choice_vqa": "5", "score": 0}]})
    assert tifa["kind"] == "tifa" and tifa["questions"][0]["gold"] == "4" and tifa["questions"][0]["answer"] == "5"
    dsg = evidence({"score_without_dependency": 0.5, "questions": [
        {"id": 2, "question": "four circles?", "category": "count", "answer": "no", "raw": 0.0, "score": 0.0}]})
    assert dsg["kind"] == "dsg" and dsg["questions"][0]["answer"] == "no" and dsg["without_dependency"] == 0.5
    assert evidence({"score": 21.5}) == {"kind": "score", "score": 21.5}
    assert kind_of({"h_j": 0.2}) == "json" and kind_of([1, 2]) == "json"
    assert '"h_j": 0.2' in evidence({"h_j": 0.2})["text"]


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "nope"), "-o", str(tmp_path / "site")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", str(tmp_path / "empty"), "-o", str(tmp_path / "site")]) == 2
    assert "no runs under" in capsys.readouterr().err
    (tmp_path / "bad" / "r").mkdir(parents=True)
    (tmp_path / "bad" / "r" / "manifest.json").write_text("{not json")
    assert main(["leaderboard", str(tmp_path / "bad"), "-o", str(tmp_path / "site")]) == 2
    assert "manifest.json is not valid JSON" in capsys.readouterr().err


# --- browser ---------------------------------------------------------------------------------------

ALERT_HOOK = """window.__dialogs = [];
["alert", "confirm", "prompt"].forEach(function (f) {
  var orig = window[f];
  window[f] = function (m) { window.__dialogs.push(f + ":" + m); return orig.apply(window, arguments); };
});"""
CHROME_FLAGS = ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--no-default-browser-check", "--disable-sync", "--disable-default-apps", "--metrics-recording-only",
                "--disable-extensions", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                "--safebrowsing-disable-auto-update", "--disable-breakpad", "--password-store=basic")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: the browser tests need Debian's chromium and chromium-driver; "
                    "install them with `sudo apt-get install -y chromium chromium-driver` (.ci/run does this), or "
                    "point GAUNTLET_CHROMIUM / GAUNTLET_CHROMEDRIVER at them", pytrace=False)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    opts.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ALERT_HOOK})
    yield driver
    driver.quit()


def open_page(driver, path):
    from selenium.common.exceptions import UnexpectedAlertPresentException

    try:
        driver.get(path.resolve().as_uri())
        for _ in range(50):
            if driver.execute_script("return document.readyState") == "complete":
                break
            time.sleep(0.1)
    except UnexpectedAlertPresentException as e:
        pytest.fail(f"{path.name} opened a dialog: {e.alert_text}")


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
        elif msg["method"] in ("Network.webSocketCreated", "Network.webTransportCreated"):
            urls.append(msg["params"]["url"])
    return urls


def column(driver, col):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
        ".map(r => r.children[arguments[0]].getAttribute('data-value'))", col)


def test_browser_sorts_and_screenshots(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    open_page(browser, site["root"] / "index.html")
    rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    assert len(rows) == 3
    head = browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-suite="geneval-world"][data-metric="overall"]')
    col = int(head.get_attribute("data-col"))
    head.find_element(By.TAG_NAME, "button").click()
    values = column(browser, col)
    assert head.get_attribute("aria-sort") == "descending"
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == 1.0 and values[-1] == ""  # missing last
    head.find_element(By.TAG_NAME, "button").click()
    numbers = [float(v) for v in column(browser, col) if v]
    assert head.get_attribute("aria-sort") == "ascending" and numbers == sorted(numbers)
    browser.find_element(By.CSS_SELECTOR, '#leaderboard th[data-col="0"] button').click()
    names = [r.find_element(By.CSS_SELECTOR, "td.cand").text for r in
             browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")]
    assert names == sorted(names, key=str.lower) and SPEC in names
    shot = tmp_path / "index.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    with Image.open(shot) as im:
        assert im.width >= 800 and im.height >= 600 and len(im.convert("RGB").getcolors(1 << 20) or []) > 20


def test_browser_injection_renders_as_text(site, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    for page in (hostile_page(site), site["root"] / "index.html"):
        open_page(browser, page)
        time.sleep(0.5)  # time for a failed image's onerror, had one been injected
        with pytest.raises(NoAlertPresentException):
            _ = browser.switch_to.alert.text
        assert browser.execute_script("return window.__dialogs") == []
        assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"], [onerror], b, i') == []
        scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.getAttribute('src'))")
        assert scripts == ["static/site.js"]
    open_page(browser, hostile_page(site))
    title = browser.find_element(By.CSS_SELECTOR, "h1.candidate-spec")
    assert title.text == SPEC and title.is_displayed()
    prompt = next(e for e in browser.find_elements(By.CSS_SELECTOR, ".prompt-text") if e.text == PAYLOAD)
    assert prompt.is_displayed()
    body = browser.find_element(By.TAG_NAME, "body").text
    assert f"expected {IMG}" in body and "gate-<i>.json" in body
    assert browser.find_element(By.CSS_SELECTOR, "table.questions td.question").text.startswith("is there <script>")
    assert SCRIPT in browser.find_element(By.CSS_SELECTOR, "pre.record").text
    browser.save_screenshot(str(tmp_path / "candidate.png"))
    assert (tmp_path / "candidate.png").stat().st_size > 10_000


def test_browser_site_makes_no_network_request(site, browser):
    from selenium.webdriver.common.by import By

    browser.get_log("performance")  # drop earlier tests' entries
    seen = []
    for page in pages(site["root"]):
        open_page(browser, page)
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        time.sleep(0.2)
        seen += requested_urls(browser)
        if page.name.startswith(("suite-", "training-")):
            assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg.plot")
    assert seen, "the performance log saw no request at all; the check would be vacuous"
    assert any(u.endswith("static/site.css") for u in seen) and any("/thumbs/" in u for u in seen)
    remote = [u for u in seen if not u.startswith("file://")]
    assert remote == [], f"the site requested {remote}"


def test_browser_training_curves(site, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, next(site["root"].glob("training-train-work-*.html")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#rounds tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["0", "1", "2"]
    assert "reject" in rows[2].text and f"drop {SCRIPT}" in rows[2].text


def test_edgen_training_page_plots_score_against_advanced_images(site):
    """Rounds whose manifests count advanced-model images get a second chart on that axis."""
    edgen = next(site["root"].glob("training-train-edgen-*.html")).read_text()
    plain = next(site["root"].glob("training-train-work-*.html")).read_text()
    assert '<figure class="chart" id="spend">' in edgen and "advanced-model images used" in edgen
    assert 'id="spend"' not in plain


def test_index_compares_edgen_loops_on_advanced_images(site):
    """Two loops that count advanced images: the index draws both on one chart per shared suite."""
    index = (site["root"] / "index.html").read_text()
    assert index.count('<figure class="chart spend-compare">') == 3  # geneval-, tifa-, dsg-world
    assert "each loop's overall score against the advanced-model images" in index


def test_large_suites_page_their_evidence(site, tmp_path):
    """Beyond --page-prompts prompts a suite's evidence continues on pages of their own: every
    prompt shows exactly once, and every pager link leads to a page that exists."""
    import re

    out = tmp_path / "paged"
    assert main(["leaderboard", str(site["runs"]), "-o", str(out), "--page-prompts", "5"]) == 0
    oracle = site["oracle"]
    from leaderboard.data import load_run

    run_page = load_run(oracle.run_dir, oracle.run_dir.relative_to(site["runs"]).as_posix()).page
    html = (out / run_page).read_text()
    section = html[html.index('data-suite="geneval-world"'):]
    section = section[:section.index("</section>")]
    links = re.findall(r'<a href="([^"#]+)">\d+</a>', section[:section.index('<div class="prompts">')])
    assert len(links) == 2  # 12 prompts in pages of 5: this page and two more
    seen = re.findall(r'data-prompt-id="([^"]+)"', section)
    for name in links:
        page = (out / name).read_text()
        assert run_page in page and "prompts 6–10 of 12" in page or "prompts 11–12 of 12" in page
        seen += re.findall(r'data-prompt-id="([^"]+)"', page)
    assert len(seen) == len(set(seen)) == 12
    with pytest.raises(ValueError, match="--page-prompts must be at least 1"):
        from leaderboard.site import build_site

        build_site(site["runs"], tmp_path / "x", page_prompts=0)
