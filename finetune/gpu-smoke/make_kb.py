"""Writes a small synthetic intention KB in the released MIND CSV layout, for the GPU smoke test.

Columns: id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement.
Most rows agree ("Yes, ..."), a few do not ("No, ..."), so the mind recipe's filter has work to do.
Deterministic (seeded); nothing is downloaded.

usage: python make_kb.py <out.csv> [rows (default 400)]
"""

import csv
import random
import sys

PRODUCTS = [
    ("phone case", "a shock-absorbing silicone case for a smartphone"),
    ("screen protector", "a tempered glass film that guards a phone screen"),
    ("yoga mat", "a non-slip foam mat for yoga and stretching"),
    ("water bottle", "an insulated steel bottle that keeps drinks cold"),
    ("running shoes", "lightweight cushioned shoes for road running"),
    ("coffee grinder", "a burr grinder for fresh coffee beans"),
    ("french press", "a glass coffee maker with a metal plunger"),
    ("tent", "a two-person waterproof camping tent"),
    ("sleeping bag", "a warm mummy sleeping bag for cold nights"),
    ("baby monitor", "a video monitor to watch a sleeping baby"),
    ("diaper bag", "a backpack with pockets for baby supplies"),
    ("desk lamp", "an adjustable LED lamp for reading and work"),
    ("notebook", "a hardcover ruled notebook for notes"),
    ("paint brushes", "a set of brushes for acrylic painting"),
    ("canvas", "stretched cotton canvas panels for painting"),
    ("dog leash", "a strong nylon leash for walking dogs"),
    ("dog treats", "healthy chewy treats for training dogs"),
    ("gardening gloves", "thorn-proof gloves for garden work"),
    ("seed starter kit", "trays and soil pods for growing seedlings"),
    ("bike helmet", "a ventilated helmet for cycling safety"),
]
RELATIONS = ["usedFor", "capableOf", "isA", "cause", "xWant", "xIntent"]
INTENTS = [
    ("usedFor", "protect the device from damage"),
    ("usedFor", "make fresh coffee at home"),
    ("capableOf", "keep the user comfortable outdoors"),
    ("xIntent", "start a new hobby"),
    ("xWant", "take better care of their pet"),
    ("cause", "the customer wants to exercise more"),
    ("isA", "a gift for a new parent"),
    ("xIntent", "prepare for a camping trip"),
    ("usedFor", "stay organised at work"),
    ("xWant", "grow vegetables in the garden"),
]


def main(out: str, rows: int) -> None:
    rng = random.Random(0)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id_a", "id_b", "Product_a", "Product_b", "Relation", "product_a_desc", "product_b_desc", "Intention", "tail", "Agreement"])
        for i in range(rows):
            (pa, da), (pb, db) = rng.sample(PRODUCTS, 2)
            relation, tail = rng.choice(INTENTS)
            intention = f"because they both are {relation} {tail}"
            agree = "Yes, the intention is plausible for both products." if rng.random() < 0.85 else "No, the intention does not fit the pair."
            w.writerow([f"B{i:06d}A", f"B{i:06d}B", pa, pb, relation, da, db, intention, tail, agree])
    print(out)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_kb.py <out.csv> [rows]")
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 400)
