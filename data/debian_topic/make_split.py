#!/usr/bin/env python3
"""Cuts a validation split from debian_topic's train.csv, grouped by source package.

The dataset's own test split is held out (not distributed), so heed reports on a
validation split cut from train: every binary package of one Debian source package
lands on the same side (as the dataset's train/test split does), chosen by SHA-256 of
the source name, so no random generator is involved and a rerun gives the same files.

  python3 data/debian_topic/make_split.py SHARED/debian_topic data/debian_topic

reads SHARED/debian_topic/{train.csv,meta_train.csv} and writes train.csv and
validation.csv (label,text) plus meta_*.csv (package,source,md5) to the output folder.
Standard library only.
"""
import csv
import hashlib
import sys

VALIDATION_PERCENT = 15


def main(src: str, dst: str) -> None:
    with open(f"{src}/train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(f"{src}/meta_train.csv", newline="", encoding="utf-8") as f:
        meta = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    meta_header, meta = meta[0], meta[1:]
    assert header == ["label", "text"] and meta_header[:2] == ["package", "source"]
    assert len(rows) == len(meta), "train.csv and meta_train.csv differ in length"
    out = {"train": ([], []), "validation": ([], [])}
    for row, m in zip(rows, meta):
        h = int(hashlib.sha256(m[1].encode("utf-8")).hexdigest()[:8], 16)
        side = "validation" if h % 100 < VALIDATION_PERCENT else "train"
        out[side][0].append(row)
        out[side][1].append(m)
    for side, (r, m) in out.items():
        with open(f"{dst}/{side}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(r)
        with open(f"{dst}/meta_{side}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(meta_header)
            w.writerows(m)
        print(f"{side}: {len(r)} rows")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
