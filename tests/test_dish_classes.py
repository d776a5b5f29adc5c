"""Dish classes from the training titles (train/dish_classes.py)."""

import pytest

from pipeline.records import Recipe
from train.dish_classes import BACKGROUND, dish_labels, fit_dish_classes, title_terms


def rows(*titles):
    return [Recipe(id=f"r{i}", title=t) for i, t in enumerate(titles)]


TRAIN = rows(
    "Chocolate Chip Cookies",
    "Chocolate chip cookies with walnuts",
    "Oatmeal Cookies",
    "Grilled Chicken Salad",
    "Chicken Salad with Grapes",
    "Easy Chicken Salad",
    "Lemon Cake",
    "Chocolate Cake",
    "Mom's Best Pavlova",
)


def test_classes_are_the_frequent_training_words_and_bigrams_stopwords_out():
    classes = fit_dish_classes(TRAIN, size=10, min_count=2)
    assert classes[0] == BACKGROUND
    # chicken/salad/chicken salad: 3 titles; chocolate 3; cookie 3; cake 2; chocolate chip, chip cookie, chip 2
    assert set(classes[1:]) == {
        "chicken",
        "salad",
        "chicken salad",
        "chocolate",
        "cooky",  # model.words.singular's crude "cookies": the same word for every title
        "cake",
        "chip",
        "chocolate chip",
        "chip cooky",
    }
    assert classes[1:4] == ["chicken", "chicken salad", "chocolate"]  # by count, ties by the text
    assert fit_dish_classes(TRAIN, size=2, min_count=2) == [BACKGROUND, "chicken", "chicken salad"]
    assert all(w not in fit_dish_classes(TRAIN, size=50, min_count=1) for w in ("with", "easy", "best"))


def test_a_word_of_val_or_test_titles_only_never_becomes_a_class():
    val = rows(*["Pavlova with berries"] * 5)
    classes = fit_dish_classes(TRAIN, size=300, min_count=2)
    assert "pavlova" not in classes and "berry" not in classes
    assert dish_labels(val, classes).tolist() == [0] * 5  # background, though frequent in val
    assert "pavlova" in fit_dish_classes(TRAIN + val, size=300, min_count=2)  # it would have, from val


def test_a_title_takes_a_bigram_then_the_last_named_then_the_rarer_class():
    classes = fit_dish_classes(TRAIN, size=10, min_count=2)
    labels = dish_labels(rows("Chicken Salad Sandwich", "Chocolate Cake", "Oatmeal", "Chocolate Chip Cake"), classes)
    named = [classes[i] for i in labels.tolist()]
    assert named[0] == "chicken salad"  # a bigram over "chicken" or "salad"
    assert named[1] == "cake"  # no bigram class: the word that ends the title
    assert named[2] == BACKGROUND  # "oatmeal" is in one training title: no class
    # Two bigram classes ("chocolate chip", "chip cake" is none): the bigram wins over "cake".
    assert named[3] == "chocolate chip"


def test_terms_are_neighbouring_words_only():
    terms = {t for t, _, _ in title_terms("Cake with Chocolate Frosting")}
    assert "cake chocolate" not in terms and "chocolate frosting" in terms


def test_at_least_one_class_is_asked_for():
    with pytest.raises(ValueError, match="at least 1"):
        fit_dish_classes(TRAIN, size=0)
