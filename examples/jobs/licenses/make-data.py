#!/usr/bin/env python3
"""Builds a small learning/forgetting pair from the licence texts Debian installs (package base-files):
learn = completing lines of the GNU GPL v3, forget = completing lines of the Apache License 2.0.
Deterministic (seeded); train and eval lines never overlap. Run: python3 make-data.py (writes beside itself)."""
import json, os, random, re

HERE = os.path.dirname(os.path.abspath(__file__))

def lines(path):
    out = []
    for raw in open(path, encoding="utf-8"):
        words = raw.split()
        if len(words) >= 8 and re.search(r"[a-z]", raw):
            out.append(words)
    # unique lines only, in file order
    seen, unique = set(), []
    for w in out:
        key = " ".join(w)
        if key not in seen:
            seen.add(key); unique.append(w)
    return unique

def split(words, cut=5):
    return " ".join(words[:cut]), " " + " ".join(words[cut:cut + 6])

def write(name, records):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

def choices(rng, items, i):
    prompt, right = split(items[i])
    others = [split(items[j])[1] for j in rng.sample([j for j in range(len(items)) if j != i], 3)]
    opts = others + [right]
    rng.shuffle(opts)
    return {"prompt": prompt, "choices": opts, "answer": opts.index(right)}

rng = random.Random(7)
gpl = lines("/usr/share/common-licenses/GPL-3")
apache = lines("/usr/share/common-licenses/Apache-2.0")
rng.shuffle(gpl); rng.shuffle(apache)
gpl_eval, gpl_heldout, gpl_train = gpl[:40], gpl[40:80], gpl[80:]
apache_eval, apache_prompts = apache[:40], apache[40:]

write("learn-train.jsonl", [dict(zip(("prompt", "response"), split(w))) for w in gpl_train])
write("learn-eval.jsonl", [choices(rng, gpl_eval, i) for i in range(len(gpl_eval))])
write("held-out.jsonl", [{"text": " ".join(w)} for w in gpl_heldout])
write("forget-prompts.jsonl", [{"prompt": split(w)[0]} for w in apache_prompts])
write("forget-eval.jsonl", [choices(rng, apache_eval, i) for i in range(len(apache_eval))])
