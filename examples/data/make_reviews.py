"""Writes reviews.csv: short made-up reviews labelled positive/negative (python make_reviews.py).

Generated from templates with a fixed seed, so the file is reproducible and
contains no third-party text. Some templates need word order to classify:
"not" flips an adjective ("not bad" is positive), and in "X but Y" the
clause after "but" decides, so a bag of words is not enough.
"""
import csv
import os
import random

SUBJECTS = ["the food", "the service", "the staff", "this movie", "the plot", "the acting", "the hotel",
            "the room", "this phone", "the battery", "the book", "the ending", "the music", "the coffee",
            "the app", "the delivery", "the soundtrack", "the camera", "the game", "the tour"]
GOOD = ["great", "excellent", "wonderful", "amazing", "good", "lovely", "fantastic", "superb", "delightful",
        "brilliant", "enjoyable", "pleasant", "impressive", "perfect"]
BAD = ["terrible", "awful", "bad", "boring", "poor", "horrible", "disappointing", "dull", "mediocre",
       "annoying", "weak", "unpleasant", "dreadful", "bland"]
INTENSIFIERS = ["", "really ", "very ", "truly ", "quite ", "absolutely ", "pretty "]
LIKE, DISLIKE = ["loved", "enjoyed", "liked", "adored"], ["hated", "disliked", "regretted", "could not stand"]


def review(rng, positive):
    subj, other = rng.sample(SUBJECTS, 2)
    adj = rng.choice(GOOD if positive else BAD)
    opposite = rng.choice(BAD if positive else GOOD)
    kind = rng.randrange(7)
    if kind == 0:
        return f"{subj} was {rng.choice(INTENSIFIERS)}{adj}"
    if kind == 1:      # negation: "not" + an adjective of the opposite sentiment
        return f"{subj} was not {opposite}"
    if kind == 2:      # contrast: the clause after "but" decides
        return f"{other} was {opposite} but {subj} was {rng.choice(INTENSIFIERS)}{adj}"
    if kind == 3:
        return f"i {rng.choice(LIKE if positive else DISLIKE)} {subj}"
    if kind == 4:
        return f"i would {'' if positive else 'not '}recommend {subj} to a friend"
    if kind == 5:
        return f"{subj} could not have been {'better' if positive else 'worse'}"
    return f"{subj} was {adj} and {other} was {rng.choice(GOOD if positive else BAD)}"


def main(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "reviews.csv"), n=400, seed=8):
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        positive = len(rows) % 2 == 0
        text = review(rng, positive)
        if text not in seen:
            seen.add(text)
            rows.append((text, "positive" if positive else "negative"))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} reviews to {path}")


if __name__ == "__main__":
    main()
