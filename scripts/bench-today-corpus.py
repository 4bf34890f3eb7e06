"""Helpers of scripts/bench-today (Python 3 standard library only).

  load URL TOKEN N CHUNK [--seed S]  generates N references and imports them in chunks
  one URL TOKEN LABEL                one search, timed (the first builds the index)
  queries URL TOKEN N                N varied searches over one connection: p50 / p99
  automations                        prints the 100 automation queries (seeded)

The references: words from a fixed vocabulary of 5,000 made-up words drawn with Zipf-like
weights (seeded), titles of 6–16 words, abstracts of 120–260, one to six authors, a
publication year 1990–2025, an OpenAlex id and a DOI; about 1.4 KB a line.
"""

import array
import bisect
import http.client
import itertools
import json
import queue
import random
import statistics
import sys
import threading
import time
import urllib.parse
import uuid

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "gri", "dan",
             "tor", "bel", "quin", "shu", "mar", "fel", "os", "ur", "ei", "an", "sto", "vex"]


def vocabulary():
    rng = random.Random(7)
    words, seen = [], set()
    while len(words) < 5000:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


VOCAB = vocabulary()
# Zipf-like: the k-th word weighs 1/(k+10), as copies in a table of 65,536 words, so that
# two random bytes pick one (fast in pure Python).
_CUM = list(itertools.accumulate(1.0 / (k + 10) for k in range(len(VOCAB))))
TABLE = [VOCAB[bisect.bisect(_CUM, (i + 0.5) / 65536 * _CUM[-1])] for i in range(65536)]
NAMES = ["Okafor", "Garcia", "Tanaka", "Ivanova", "Sharma", "Dubois", "Silva", "Sato",
         "Haddad", "Lindqvist", "Pereira", "Dlamini", "Smith", "Nguyen", "Kim", "Muller"]


def words(rng, n):
    return " ".join(map(TABLE.__getitem__, array.array("H", rng.randbytes(2 * n))))


def reference(rng, n):
    rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    year = rng.randint(1990, 2025)
    title = words(rng, rng.randint(6, 16)).capitalize()
    abstract = words(rng, rng.randint(120, 260)).capitalize() + "."
    authors = [{"display_name": f"{rng.choice(NAMES)} {rng.choice(NAMES)}",
                "position": "first" if i == 0 else "middle"}
               for i in range(rng.randint(1, 6))]
    enh = {"reference_id": rid, "source": "bench", "visibility": "public",
           "robot_version": "bench"}
    return json.dumps({
        "id": rid, "visibility": "public",
        "identifiers": [{"identifier": f"W{100_000_000 + n}", "identifier_type": "open_alex"},
                        {"identifier": f"10.5555/bench.{n}", "identifier_type": "doi"}],
        "enhancements": [
            dict(enh, content={"enhancement_type": "bibliographic", "title": title,
                               "publication_year": year, "authorship": authors}),
            dict(enh, content={"enhancement_type": "abstract", "process": "other",
                               "abstract": abstract}),
        ]}, ensure_ascii=False)


def connect(url):
    return http.client.HTTPConnection(urllib.parse.urlparse(url).netloc, timeout=3600)


def load(url, tok, n, chunk, seed):
    """Generates in this thread while another posts the previous chunk."""
    rng = random.Random(seed)
    bodies = queue.Queue(maxsize=2)
    failed = []

    def post():
        c = connect(url)
        done = 0
        while (body := bodies.get()) is not None:
            if failed:
                continue  # keep taking what the generator puts until it stops
            t = time.monotonic()
            try:
                c.request("POST", "/v1/references/", body[1],
                          {"Authorization": f"Bearer {tok}"})
                r = c.getresponse()
                data = r.read()
            except OSError as e:
                failed.append(repr(e))
                continue
            if r.status != 201:
                failed.append((r.status, data[:300]))
                continue
            done += body[0]
            if n > 1:
                print(f"  {done} imported ({len(body[1]) / 1e6:.0f} MB in "
                      f"{time.monotonic() - t:.1f} s)", flush=True)

    poster = threading.Thread(target=post)
    poster.start()
    i = 0
    while i < n and not failed:
        k = min(chunk, n - i)
        lines = [reference(rng, seed * 10_000_000 + i + j) for j in range(k)]
        bodies.put((k, ("\n".join(lines) + "\n").encode()))
        i += k
    bodies.put(None)
    poster.join()
    if failed:
        sys.exit(f"import failed: {failed[0]}")


def search(c, tok, params):
    c.request("GET", "/v1/references/search/?" + urllib.parse.urlencode(params),
              headers={"Authorization": f"Bearer {tok}"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"search {params} answered {r.status}: {data[:300]!r}")
    return json.loads(data)["total"]["count"]


def timed_one(url, tok, label):
    c = connect(url)
    t = time.monotonic()
    total = search(c, tok, {"q": VOCAB[300]})
    print(f"{label}: {time.monotonic() - t:.2f} s ({total} hits for {VOCAB[300]!r})")


def varied(rng):
    """A query of one of four kinds, over the whole range of word frequencies."""
    def word():
        return VOCAB[min(int(rng.paretovariate(0.6)) - 1, len(VOCAB) - 1)] \
            if rng.random() < 0.5 else rng.choice(VOCAB)
    kind = rng.randrange(4)
    if kind == 0:
        return "term", {"q": word()}
    if kind == 1:
        return "two terms AND", {"q": f"{word()} AND {word()}"}
    if kind == 2:
        # Two words next to each other in a generated text: found when common enough.
        w = words(rng, 2)
        return "phrase", {"q": f'"{w}"'}
    start = rng.randint(1990, 2020)
    return "term + years", {"q": word(), "start_year": start,
                            "end_year": start + rng.randint(0, 5)}


def queries(url, tok, n):
    rng = random.Random(3)
    c = connect(url)
    for _ in range(20):  # warm-up, not counted
        search(c, tok, varied(rng)[1])
    times, by_kind, hits = [], {}, []
    for _ in range(n):
        kind, params = varied(rng)
        t = time.perf_counter()
        total = search(c, tok, params)
        dt = (time.perf_counter() - t) * 1000
        times.append(dt)
        by_kind.setdefault(kind, []).append(dt)
        hits.append(total)

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * p))]
    print(f"{n} searches: p50 {pct(times, 0.5):.1f} ms, p99 {pct(times, 0.99):.1f} ms, "
          f"max {max(times):.1f} ms; hits median {statistics.median(hits):.0f}, "
          f"max {max(hits)}")
    for kind, xs in sorted(by_kind.items()):
        print(f"  {kind}: {len(xs)}, p50 {pct(xs, 0.5):.1f} ms, p99 {pct(xs, 0.99):.1f} ms")


TOPICS = ["Early childhood literacy", "Cash transfer programmes", "School feeding",
          "Malaria bed nets", "Teacher coaching", "Microfinance", "Community health workers",
          "Climate adaptation", "Remote learning", "Conditional scholarships",
          "Mental health first aid", "Water sanitation"]
OTHER = ["classifier:flag", "prefilter:include", "screening:rct", "topic:health",
         "topic:education"]
ID_TYPES = ["doi", "pm_id", "eric", "pro_quest", "other", "open_alex"]
TYPES = ["bibliographic", "abstract", "location", "annotation", "full_text"]


def automation_queries():
    """100 distinct queries from ten templates over the percolation mapping, naming the
    labels and identifier types `destiny references generate` writes (and some it does
    not, as a robot chaining on another's annotations would)."""
    rng = random.Random(12)

    def annotation(h, scheme, label, value=True):
        p = f"{h}.enhancements.content.annotations"
        return {"nested": {"path": f"{h}.enhancements", "query": {"nested": {
            "path": p, "query": {"bool": {"must": [
                {"term": {f"{p}.scheme": scheme}}, {"term": {f"{p}.label": label}},
                {"term": {f"{p}.value": value}}]}}}}}}

    def identifier(h, kind):
        return {"nested": {"path": f"{h}.identifiers",
                           "query": {"term": {f"{h}.identifiers.identifier_type": kind}}}}

    def enh_type(h, kinds):
        return {"nested": {"path": f"{h}.enhancements", "query": {
            "terms": {f"{h}.enhancements.content.enhancement_type": kinds}}}}

    def one():
        h = rng.choice(["reference", "changeset"])
        k = rng.randrange(10)
        if k == 0:
            return annotation(h, "openalex:topic", rng.choice(TOPICS))
        if k == 1:
            return annotation(h, rng.choice(OTHER), rng.choice(["include", "exclude", "flag"]),
                              rng.choice([True, False]))
        if k == 2:
            return identifier(h, rng.choice(ID_TYPES))
        if k == 3:
            return {"bool": {"must": [identifier(h, rng.choice(ID_TYPES))],
                             "must_not": [enh_type(h, [rng.choice(TYPES)])]}}
        if k == 4:
            return {"bool": {"filter": [{"term": {f"{h}.visibility": "public"}},
                                        enh_type(h, rng.sample(TYPES, 2))]}}
        if k == 5:
            e = f"{h}.enhancements"
            return {"nested": {"path": e, "query": {"bool": {"must": [
                {"exists": {"field": f"{e}.robot_version"}},
                {"term": {f"{e}.source": rng.choice(["openalex", "robot:x", "manual"])}}]}}}}
        if k == 6:
            a, b = rng.sample(TOPICS, 2)
            p = f"{h}.enhancements.content.annotations"
            return {"nested": {"path": f"{h}.enhancements", "query": {"nested": {
                "path": p, "query": {"simple_query_string": {
                    "query": f'"{a}" | "{b}"', "fields": [f"{p}.label"]}}}}}}
        if k == 7:
            return {"bool": {"should": [annotation(h, "openalex:topic", t)
                                        for t in rng.sample(TOPICS, 3)],
                             "minimum_should_match": 2}}
        if k == 8:
            return {"bool": {"must": [annotation(h, "openalex:topic", rng.choice(TOPICS)),
                                      identifier(h, rng.choice(ID_TYPES[:4]))],
                             "must_not": [annotation(h, rng.choice(OTHER), "exclude")]}}
        return {"nested": {"path": f"{h}.identifiers", "query": {"simple_query_string": {
            "query": f"{rng.choice(ID_TYPES)} -{rng.choice(ID_TYPES)}",
            "default_operator": "and", "fields": [f"{h}.identifiers.identifier_type"]}}}}

    seen, out = set(), []
    while len(out) < 100:
        line = json.dumps(one(), sort_keys=True)
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def main(argv):
    cmd = argv[1]
    if cmd == "load":
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
        load(argv[2], argv[3], int(argv[4]), int(argv[5]), seed)
    elif cmd == "one":
        timed_one(argv[2], argv[3], argv[4])
    elif cmd == "queries":
        queries(argv[2], argv[3], int(argv[4]))
    elif cmd == "automations":
        sys.stdout.write("".join(line + "\n" for line in automation_queries()))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
