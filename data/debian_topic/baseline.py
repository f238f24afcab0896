#!/usr/bin/env python3
"""Majority-class and TF-IDF + logistic-regression baselines on heed's debian_topic
validation split (the recipe of the dataset's SOURCE: word 1-2-grams, sublinear tf,
min_df 2, C picked by 5-fold CV on train). Needs python3-sklearn (Debian).

  /usr/bin/python3 data/debian_topic/baseline.py data/debian_topic
"""
import csv
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main(d):
    xt, yt = read(f"{d}/train.csv")
    xv, yv = read(f"{d}/validation.csv")
    major = max(set(yt), key=yt.count)
    pm = [major] * len(yv)
    print(f"majority ({major}): accuracy {accuracy_score(yv, pm):.4f} "
          f"macro-F1 {f1_score(yv, pm, average='macro'):.4f}")
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                         LogisticRegression(max_iter=2000))
    gs = GridSearchCV(pipe, {"logisticregression__C": [1, 10, 100]}, cv=5, n_jobs=2)
    gs.fit(xt, yt)
    p = gs.predict(xv)
    print(f"tfidf+lr (C={gs.best_params_['logisticregression__C']}, CV acc "
          f"{gs.best_score_:.4f}): accuracy {accuracy_score(yv, p):.4f} "
          f"macro-F1 {f1_score(yv, p, average='macro'):.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
